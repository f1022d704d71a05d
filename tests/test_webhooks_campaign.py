"""An integration learns how each message of a real campaign went: the app running (dispatchers, the webhook
worker), a real SMTP server, a real receiver, every delivery verified with the official `standardwebhooks`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from backend.store.models import Contact
from tests.campaign_helpers import add_contacts
from tests.helpers import wait_for
from tests.test_campaigns_actions import act, create
from tests.webhook_support import add_endpoint, receiver, verified


def bodies(secret: str, r: Any) -> list[dict[str, Any]]:
    return [verified(secret, got) for got in list(r.received)]


def test_it_tells_a_receiver_each_message_sent_the_campaign_status_and_an_opt_out(
    client, auth, services, smtp, account, running, receivers
) -> None:
    r = receiver(receivers)
    hook = add_endpoint(client, auth, r.url, ["message.updated", "campaign.status", "contact.opted_out"])
    add_contacts(services, account, 6)
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")

    def completed() -> bool:
        return any(
            b["type"] == "campaign.status" and b["data"]["status"] == "completed" for b in bodies(hook["secret"], r)
        )

    wait_for(completed, timeout=60, interval=0.2, what="the campaign's completion at the receiver")
    wait_for(
        lambda: len([b for b in bodies(hook["secret"], r) if b["type"] == "message.updated"]) >= 6,
        timeout=30,
        interval=0.2,
        what="six message.updated",
    )
    updates = [b["data"]["message"] for b in bodies(hook["secret"], r) if b["type"] == "message.updated"]
    assert sorted(m["recipient"] for m in updates) == [f"person{i}@example.org" for i in range(6)]
    assert {m["status"] for m in updates} == {"sent"} and all("body" not in m for m in updates)
    assert {m["campaign_id"] for m in updates} == {campaign["id"]}

    with services.db.read() as session:
        contact_id = session.scalars(select(Contact.id).where(Contact.email == "person0@example.org")).one()
    assert client.post(f"/api/contacts/{contact_id}/opt-out", json={}, headers=auth).status_code == 200
    wait_for(
        lambda: any(b["type"] == "contact.opted_out" for b in bodies(hook["secret"], r)),
        timeout=30,
        interval=0.2,
        what="the opt-out at the receiver",
    )
    [opted] = [b for b in bodies(hook["secret"], r) if b["type"] == "contact.opted_out"]
    assert opted["data"]["contact_id"] == contact_id


def test_it_tells_a_receiver_about_a_message_sent_with_an_api_key(
    client, auth, services, smtp, account, running, receivers
) -> None:
    r = receiver(receivers)
    hook = add_endpoint(client, auth, r.url, ["message.created", "message.updated"], include_body=True)
    made = client.post("/api/api-keys", json={"name": "Shop", "scopes": ["send"]}, headers=auth).get_json()
    answer = client.post(
        "/api/conversations/order-1042/messages",
        json={"source": "email", "to": "ana@example.org", "subject": "Order 1042", "body": "It has shipped."},
        headers={"Authorization": f"Bearer {made['key']}"},
    )
    assert answer.status_code == 201, answer.get_json()
    message_id = answer.get_json()["id"]

    def seen() -> list[tuple[str, str]]:
        found = [(b["type"], b["data"]["message"]["status"]) for b in bodies(hook["secret"], r)]
        return found if ("message.updated", "sent") in found else []

    found = wait_for(seen, timeout=30, interval=0.2, what="the sent message at the receiver")
    assert ("message.created", "queued") in found
    for body in bodies(hook["secret"], r):
        assert body["data"]["message"]["id"] == message_id and body["data"]["message"]["body"] == "It has shipped."
    assert smtp.arrivals()["ana@example.org"] == 1
