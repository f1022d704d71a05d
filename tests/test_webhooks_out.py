"""Outgoing webhooks (DESIGN section 17): every delivery verified by the official `standardwebhooks` package
with the secret the API showed, against real receivers on loopback answering 200, 500-then-200, 410, 302 and
hang. Time is the app's clock (`services.clock`), moved by the tests; nothing sleeps through a retry wait."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy import select

from backend.accounts import get_or_create_account
from backend.store.models import Message, WebhookEndpoint
from backend.webhooks_out.store import prune_finished
from backend.webhooks_out.worker import WebhookWorker
from tests.helpers import wait_for
from tests.webhook_support import add_endpoint, default_account, deliveries, receiver, verified


def test_it_signs_each_event_so_the_official_library_verifies_it(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers)
    hook = add_endpoint(client, auth, r.url)
    assert hook["secret"].startswith("whsec_") and len(hook["secret"]) == len("whsec_") + 44
    account = default_account(services)
    services.hub.emit(
        account,
        "campaign.status",
        "Sending messages to 2 contacts...",
        data={"campaign_id": 7, "status": "running", "counts": {"total": 2}},
    )
    services.hub.emit(account, "contact.opted_out", "Ana opted out", data={"contact_id": 3, "family": "sms"})
    services.hub.emit(account, "send.progress", "Sending", data={"message_id": 1, "status": "sending"})
    services.webhooks_out.run_once()

    bodies = [verified(hook["secret"], got) for got in r.received]
    assert [b["type"] for b in bodies] == ["campaign.status", "contact.opted_out"]
    assert bodies[0]["data"]["status"] == "running" and bodies[1]["data"]["family"] == "sms"
    assert all(b["timestamp"].endswith("Z") for b in bodies)
    shown = deliveries(client, auth, hook["id"], "succeeded")
    assert {d["response_status"] for d in shown} == {200} and all(d["duration_ms"] >= 0 for d in shown)
    assert "secret" not in client.get(f"/api/webhooks/{hook['id']}", headers=auth).get_json()


def test_it_retries_a_500_with_the_same_webhook_id_after_five_seconds(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers, answers=[(500, {})])
    hook = add_endpoint(client, auth, r.url, ["campaign.status"])
    services.hub.emit(default_account(services), "campaign.status", "Paused", data={"status": "paused"})
    services.webhooks_out.run_once()
    [first] = deliveries(client, auth, hook["id"])
    assert first["status"] == "pending" and first["response_status"] == 500 and first["attempts"] == 1
    assert len(first["response_body"]) == 1024  # the receiver said 5,000 bytes: 1 KB kept

    clock.advance(seconds=4)
    services.webhooks_out.run_once()
    assert len(r.received) == 1  # not due yet (5 s less 10 % jitter is 4.5 s)
    clock.advance(seconds=2)
    services.webhooks_out.run_once()
    assert len(r.received) == 2
    ids = {got.headers["webhook-id"] for got in r.received}
    assert len(ids) == 1 and [verified(hook["secret"], got)["type"] for got in r.received] == ["campaign.status"] * 2
    [done] = deliveries(client, auth, hook["id"])
    assert done["status"] == "succeeded" and done["attempts"] == 2 and done["webhook_id"] in ids


def test_it_honours_retry_after(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers, answers=[(429, {"Retry-After": "120"})])
    hook = add_endpoint(client, auth, r.url)
    services.hub.emit(default_account(services), "channel.status", "Ready", data={"state": "ready"})
    services.webhooks_out.run_once()
    clock.advance(seconds=100)
    services.webhooks_out.run_once()
    assert len(r.received) == 1
    clock.advance(seconds=21)
    services.webhooks_out.run_once()
    assert len(r.received) == 2 and deliveries(client, auth, hook["id"])[0]["status"] == "succeeded"


def test_it_disables_an_endpoint_that_answers_410_and_says_why(client, auth, services, clock, receivers) -> None:
    gone = receiver(receivers, then=(410, {}))
    watcher = receiver(receivers)
    hook = add_endpoint(client, auth, gone.url)
    other = add_endpoint(client, auth, watcher.url, ["webhook.disabled"])
    account = default_account(services)
    services.hub.emit(account, "channel.status", "Ready", data={"state": "ready"})
    services.webhooks_out.run_once()
    services.webhooks_out.run_once()  # the other endpoint learns it in the next pass

    view = client.get(f"/api/webhooks/{hook['id']}", headers=auth).get_json()
    assert view["enabled"] is False and "410" in view["disabled_reason"]
    [told] = [verified(other["secret"], got) for got in watcher.received]
    assert told["type"] == "webhook.disabled" and told["data"]["webhook_id"] == hook["id"]
    services.hub.emit(account, "channel.status", "Ready again", data={"state": "ready"})
    services.webhooks_out.run_once()
    assert len(gone.received) == 1  # nothing more goes to a disabled endpoint

    gone.then = (200, {})
    enabled = client.patch(f"/api/webhooks/{hook['id']}", json={"enabled": True}, headers=auth).get_json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    services.webhooks_out.run_once()
    # nothing was lost while it was disabled: it now learns that it was disabled, and the event it missed
    missed = [verified(hook["secret"], got) for got in gone.received[1:]]
    assert [(m["type"], m["data"].get("state")) for m in missed] == [
        ("webhook.disabled", None),
        ("channel.status", "ready"),
    ]


def test_it_disables_after_five_days_of_failures(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers, then=(503, {}))
    hook = add_endpoint(client, auth, r.url)
    services.hub.emit(default_account(services), "channel.status", "Ready", data={"state": "ready"})
    services.webhooks_out.run_once()
    for _ in range(8):  # the schedule's waits add up to about 3 days for one event
        clock.advance(hours=24)
        services.hub.emit(default_account(services), "channel.status", "Still", data={"state": "ready"})
        services.webhooks_out.run_once()
        if not client.get(f"/api/webhooks/{hook['id']}", headers=auth).get_json()["enabled"]:
            break
    view = client.get(f"/api/webhooks/{hook['id']}", headers=auth).get_json()
    assert view["enabled"] is False and view["disabled_reason"] == "Every delivery failed for 5 days."
    assert all(verified(hook["secret"], got) for got in r.received)


def test_it_treats_a_redirect_as_a_failure_and_never_follows_it(client, auth, services, clock, receivers) -> None:
    target = receiver(receivers)
    r = receiver(receivers, then=(302, {"Location": target.url}))
    hook = add_endpoint(client, auth, r.url)
    services.hub.emit(default_account(services), "channel.status", "Ready", data={"state": "ready"})
    services.webhooks_out.run_once()
    [d] = deliveries(client, auth, hook["id"])
    assert d["status"] == "pending" and d["response_status"] == 302 and "redirect" in d["last_error"]
    assert target.received == []


def test_it_gives_up_on_a_receiver_that_hangs_after_15_s(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers, hang_s=30)
    hook = add_endpoint(client, auth, r.url)
    services.hub.emit(default_account(services), "channel.status", "Ready", data={"state": "ready"})
    started = time.monotonic()
    services.webhooks_out.run_once()
    took = time.monotonic() - started
    [d] = deliveries(client, auth, hook["id"])
    assert d["status"] == "pending" and d["last_error"] == "No answer within 15 s"
    assert 14 < took < 30


def test_it_keeps_other_endpoints_going_while_one_hangs(client, auth, services, receivers) -> None:
    hanging = receiver(receivers, hang_s=30)
    fine = receiver(receivers)
    add_endpoint(client, auth, hanging.url)
    hook = add_endpoint(client, auth, fine.url)
    services.webhooks_out.start()
    try:
        account = default_account(services)
        services.hub.emit(account, "channel.status", "One", data={"state": "ready"})
        wait_for(lambda: hanging.received and fine.received, timeout=10, what="both endpoints to get the event")
        for n in range(5):
            services.hub.emit(account, "campaign.status", f"Event {n}", data={"status": "running", "n": n})
        wait_for(lambda: len(fine.received) == 6, timeout=10, what="five more events while the other hangs")
        assert len(hanging.received) == 1
        assert [verified(hook["secret"], got)["data"].get("n") for got in fine.received[1:]] == [0, 1, 2, 3, 4]
    finally:
        hanging.release()
        services.webhooks_out.stop()


def test_it_signs_with_both_secrets_for_24_hours_after_a_rotation(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers)
    hook = add_endpoint(client, auth, r.url)
    rotated = client.post(f"/api/webhooks/{hook['id']}/rotate-secret", headers=auth).get_json()
    assert rotated["secret"] != hook["secret"] and rotated["previous_secret_expires_at"]
    account = default_account(services)
    services.hub.emit(account, "channel.status", "Ready", data={"state": "ready"})
    services.webhooks_out.run_once()
    got = r.received[-1]
    assert got.headers["webhook-signature"].count("v1,") == 2
    verified(hook["secret"], got)
    verified(rotated["secret"], got)

    clock.advance(hours=24, seconds=1)
    services.hub.emit(account, "channel.status", "Later", data={"state": "ready"})
    services.webhooks_out.run_once()
    got = r.received[-1]
    assert got.headers["webhook-signature"].count("v1,") == 1
    verified(rotated["secret"], got)
    with pytest.raises(Exception, match="signature"):
        verified(hook["secret"], got)


def test_it_sends_a_test_and_retries_a_delivery_by_hand(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers, answers=[(500, {})])
    hook = add_endpoint(client, auth, r.url)
    queued = client.post(f"/api/webhooks/{hook['id']}/test", headers=auth)
    assert queued.status_code == 202 and queued.get_json()["type"] == "webhook.test"
    services.webhooks_out.run_once()
    [failed] = deliveries(client, auth, hook["id"])
    assert failed["response_status"] == 500
    retried = client.post(f"/api/webhook-deliveries/{failed['id']}/retry", headers=auth)
    assert retried.status_code == 202
    services.webhooks_out.run_once()  # due at once, no clock moved
    assert [verified(hook["secret"], got)["type"] for got in r.received] == ["webhook.test"] * 2
    assert r.received[0].headers["webhook-id"] == r.received[1].headers["webhook-id"]
    assert deliveries(client, auth, hook["id"], "succeeded")[0]["id"] == failed["id"]


def _sent_message(services: Any, account: int) -> int:
    with services.db.write() as session:
        message = Message(
            account_id=account,
            channel="smtp",
            recipient="ana@example.org",
            subject="Hello Ana",
            body="Your order shipped",
            sender_type="campaign",
            sender_id="1",
            status="sent",
        )
        session.add(message)
        session.flush()
        return message.id


def test_it_tells_each_send_outcome_as_message_updated_without_the_body(
    client, auth, services, clock, receivers
) -> None:
    plain, full = receiver(receivers), receiver(receivers)
    hook = add_endpoint(client, auth, plain.url, ["message.updated"])
    with_body = add_endpoint(client, auth, full.url, ["message.updated"], include_body=True)
    account = default_account(services)
    message_id = _sent_message(services, account)
    services.hub.emit(
        account,
        "send.progress",
        "Sent to ana@example.org",
        data={"message_id": message_id, "campaign_id": 1, "status": "sent"},
    )
    services.webhooks_out.run_once()
    [lean] = [verified(hook["secret"], got) for got in plain.received]
    [rich] = [verified(with_body["secret"], got) for got in full.received]
    assert lean["type"] == rich["type"] == "message.updated"
    assert lean["data"]["message"]["id"] == message_id and lean["data"]["message"]["status"] == "sent"
    assert "body" not in lean["data"]["message"] and "Your order shipped" not in json.dumps(lean)
    assert rich["data"]["message"]["body"] == "Your order shipped"


def test_it_delivers_what_happened_while_the_process_was_down(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers)
    hook = add_endpoint(client, auth, r.url)
    account = default_account(services)
    for n in range(3):
        services.hub.emit(account, "campaign.status", f"Event {n}", data={"n": n})
    # a fresh worker (a restarted process) starts from the endpoint's stored cursor
    restarted = WebhookWorker(services.db, services.hub, services.secrets.box, services.webhooks_out.policy, clock)
    restarted.run_once()
    assert [verified(hook["secret"], got)["data"]["n"] for got in r.received] == [0, 1, 2]
    with services.db.read() as session:
        cursor = session.scalar(select(WebhookEndpoint.cursor).where(WebhookEndpoint.id == hook["id"]))
    assert cursor and services.webhooks_out.run_once() == 0


def test_it_forgets_finished_deliveries_after_30_days(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers)
    hook = add_endpoint(client, auth, r.url)
    services.hub.emit(default_account(services), "channel.status", "Ready", data={"state": "ready"})
    services.webhooks_out.run_once()
    assert prune_finished(services.db, clock()) == 0 and len(deliveries(client, auth, hook["id"])) == 1
    clock.advance(days=30, seconds=1)
    assert prune_finished(services.db, clock()) == 1 and deliveries(client, auth, hook["id"]) == []


def test_it_keeps_each_accounts_webhooks_to_itself(client, auth, services, clock, receivers) -> None:
    r = receiver(receivers)
    hook = add_endpoint(client, auth, r.url)
    other = {"Authorization": f"Bearer {services.account_token('other')}"}
    assert client.get(f"/api/webhooks/{hook['id']}", headers=other).status_code == 404
    assert client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=other).status_code == 404
    assert client.post(f"/api/webhooks/{hook['id']}/test", headers=other).status_code == 404
    assert client.get("/api/webhooks", headers=other).get_json()["total"] == 0
    with services.db.write() as session:
        other_account = get_or_create_account(session, "other").id
    services.hub.emit(other_account, "channel.status", "Theirs", data={"state": "ready"})
    services.webhooks_out.run_once()
    assert r.received == []  # another account's events never reach this account's endpoint
    listed = client.get("/api/webhooks", headers=auth).get_json()
    assert listed["total"] == 1 and hook["secret"] not in str(listed)
    assert client.get(f"/api/webhooks/{hook['id']}/deliveries?status=lost", headers=auth).status_code == 400
    assert client.delete(f"/api/webhooks/{hook['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/webhooks/{hook['id']}", headers=auth).status_code == 404
