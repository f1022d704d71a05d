"""`POST /webhooks/communications` (HMAC-signed) and the delivery routes, against the app and a live server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from backend.webhooks.communications import signature
from tests.delivery_support import add_sent, count, message, signed, updated_events
from tests.helpers import EventSocket, bearer

PATH = "/webhooks/communications"


@pytest.fixture(autouse=True)
def default_account(request: pytest.FixtureRequest) -> None:
    """Account 1 exists before any message is added to it."""
    if "services" in request.fixturenames:
        request.getfixturevalue("services").account_token()


def webhook_secret(services: Any, account_id: int = 1) -> str:
    with services.db.write() as session:
        return str(services.secrets.webhook_secret(session, account_id))


def body(message_id: int, **changes: Any) -> dict[str, Any]:
    return {"message_id": message_id, "provider": "mailer", "event_id": f"ev-{message_id}", "status": "delivered",
            "success": True, **changes}  # fmt: skip


def post(client: Any, raw: bytes, headers: dict[str, str]) -> Any:
    return client.post(PATH, data=raw, headers=headers)


def communications(services: Any) -> int:
    return count(services, "SELECT count(*) FROM communications")


def test_it_records_a_signed_report_once_and_settles_the_message(client: Any, services: Any, auth: Any) -> None:
    (message_id,) = add_sent(services)
    raw, headers = signed(webhook_secret(services), body(message_id, status="read"))

    first = post(client, raw, headers)
    replay = post(client, raw, headers)
    done = client.post("/api/trigger/delivery-status", headers=auth).get_json()

    assert first.status_code == 200, first.get_json()
    assert replay.status_code == 409 and replay.get_json()["error"] == "conflict"
    assert communications(services) == 1
    assert done["delivered"] == 1
    row = message(services, message_id)
    assert row.delivered is True and row.meta["communication_id"] == first.get_json()["communication_id"]


@pytest.mark.parametrize("how", ["tampered", "missing", "wrong secret", "not hex"])
def test_it_refuses_a_report_whose_signature_does_not_match_and_writes_nothing(
    client: Any, services: Any, how: str
) -> None:
    (message_id,) = add_sent(services)
    raw, headers = signed(webhook_secret(services), body(message_id))
    if how == "tampered":
        raw = raw.replace(b'"delivered"', b'"bounce"')
    elif how == "missing":
        del headers["X-Bulkmsg-Signature"]
    elif how == "wrong secret":
        raw, headers = signed("not-the-accounts-secret", body(message_id))
    else:
        headers["X-Bulkmsg-Signature"] = "sha256=zz"

    response = post(client, raw, headers)

    assert response.status_code == 403
    assert response.get_json()["error"] == "bad_signature"
    assert communications(services) == 0


def test_it_refuses_reports_for_an_account_that_has_no_secret_yet(client: Any, services: Any) -> None:
    (message_id,) = add_sent(services)
    raw, headers = signed("", body(message_id))

    assert post(client, raw, headers).status_code == 403
    assert count(services, "SELECT count(*) FROM credentials") == 0, "an unsigned request creates no secret"


def test_it_checks_the_signature_with_the_secret_of_the_messages_account(client: Any, services: Any) -> None:
    services.account_token("other")
    (theirs,) = add_sent(services, account_id=2)
    raw, headers = signed(webhook_secret(services, account_id=1), body(theirs))

    # Signed by account 1, which has no such message: the same answer as for any id account 1 does not have.
    assert post(client, raw, headers).status_code == 404
    assert communications(services) == 0
    raw, headers = signed(webhook_secret(services, account_id=2), body(theirs))
    assert post(client, raw, headers).status_code == 200


def test_it_answers_404_for_an_unknown_message(client: Any, services: Any) -> None:
    raw, headers = signed(webhook_secret(services), body(4242))

    response = post(client, raw, headers)

    assert response.status_code == 404
    assert communications(services) == 0


@pytest.mark.parametrize(
    "raw, field",
    [
        (b"{not json", None),
        (b"[1, 2]", None),
        (json.dumps({"provider": "x"}).encode(), "message_id"),
        (json.dumps({"message_id": True}).encode(), "message_id"),
    ],
)
def test_it_answers_400_for_a_body_without_a_usable_message_id(
    client: Any, services: Any, raw: bytes, field: str | None
) -> None:
    unsigned = {"Content-Type": "application/json", "X-Bulkmsg-Signature": "sha256=" + "0" * 64}
    headers = {**unsigned, "X-Bulkmsg-Signature": signature(webhook_secret(services), raw)}

    assert post(client, raw, unsigned).status_code == 403  # the signature is checked before the body is read
    response = post(client, raw, headers)

    assert response.status_code == 400
    if field:
        assert response.get_json()["details"][0]["field"] == field


def test_it_lists_every_bad_field_of_a_signed_report(client: Any, services: Any) -> None:
    (message_id,) = add_sent(services)
    bad = {"message_id": message_id, "provider": "", "event_id": "e" * 300, "status": 7, "success": "yes",
           "error": ["no"]}  # fmt: skip
    raw, headers = signed(webhook_secret(services), bad)

    response = post(client, raw, headers)

    assert response.status_code == 400
    fields = [d["field"] for d in response.get_json()["details"]]
    assert fields == ["provider", "event_id", "status", "success", "error"]
    assert communications(services) == 0


def test_it_shows_delivery_counts_of_the_callers_account_only(client: Any, services: Any, auth: Any) -> None:
    delivered, bounced, pending, _ = add_sent(services, 4)
    other = bearer(services.account_token("other"))
    add_sent(services, 3, account_id=2)
    secret = webhook_secret(services)
    for message_id, status, success in ((delivered, "delivered", True), (bounced, "bounce", False)):
        raw, headers = signed(secret, body(message_id, status=status, success=success))
        assert post(client, raw, headers).status_code == 200
    alias = client.post("/api/trigger/conversations/support-message-status", headers=auth).get_json()

    counts = client.get("/api/delivery-status", headers=auth).get_json()
    other_counts = client.get("/api/delivery-status", headers=other).get_json()
    other_run = client.post("/api/trigger/delivery-status", headers=other).get_json()

    assert (alias["claimed"], alias["delivered"], alias["undelivered"], alias["not_final"]) == (4, 1, 1, 2)
    assert {k: counts[k] for k in ("pending", "in_progress", "delivered", "undelivered", "expired")} == {
        "pending": 2, "in_progress": 0, "delivered": 1, "undelivered": 1, "expired": 0}  # fmt: skip
    assert counts["oldest_pending_s"] >= 0
    assert other_counts["pending"] == 3 and other_counts["delivered"] == 0
    assert other_run["claimed"] == 3, "account 2's trigger checks only its own messages"
    assert client.post("/api/trigger/delivery-status").status_code == 401
    assert client.get("/api/delivery-status").status_code == 401


def test_it_pushes_message_updated_to_the_dashboard_right_after_the_callback(live_server: Any) -> None:
    services = live_server.app.extensions["bulkmsg"]
    ids = add_sent(services, 5)
    secret = webhook_secret(services)
    socket = EventSocket(live_server.url, live_server.token)
    latencies = []
    try:
        for message_id in ids:
            raw, headers = signed(secret, body(message_id))
            started = time.perf_counter()
            response = requests.post(live_server.url + PATH, data=raw, headers=headers, timeout=5)
            assert response.status_code == 200
            frame = socket.until(
                lambda f, m=message_id: f.get("type") == "message.updated" and f["data"]["message"]["id"] == m
            )
            latencies.append(time.perf_counter() - started)
            assert frame["data"]["message"]["delivery"] == "delivered"
            assert frame["data"]["message"]["metadata"]["communication_id"] is not None
    finally:
        socket.close()
    # the 5-second sweep is the safety net; the nudge settles it at once (generous bound: shared CI machines)
    assert max(latencies) < 1.5, latencies
    assert len(updated_events(services)) == 5
