"""A contact's one thread: campaign messages, replies and inbound messages on every channel, in time order; the
reply channel chosen from what the contact last wrote on; inbound WhatsApp through the store's inbound function."""

from __future__ import annotations

import pytest

from backend.conversations.inbound import Inbound, record_inbound

ANA_PHONE = "+14155552671"
BOTH_STORES = pytest.mark.parametrize("store", ["sqlite", "postgresql"])


@pytest.fixture
def config(make_config, request):
    """SQLite, or PostgreSQL for the tests marked BOTH_STORES (the inbound insert and thread queries differ)."""
    store = getattr(request.node, "callspec", None) and request.node.callspec.params.get("store")
    if store == "postgresql":
        return make_config(database_url=request.getfixturevalue("pg_url"))
    return make_config()


def configure_directly(services, channel: str, state: str = "ready", account: int = 1) -> None:
    """Settings stored without verifying them (each channel's own tests verify against its server)."""
    services.channels.configure(account, channel, {"configured": True}, {}, state, "Ready")


def receive(services, channel: str, sender: str, body: str, sid: str, **extra) -> None:
    with services.db.write() as session:
        record_inbound(
            services.hub,
            session,
            Inbound(account_id=1, channel=channel, sender=sender, body=body, provider_message_id=sid, **extra),
        )


def new_contact(client, auth, **body) -> dict:
    response = client.post("/api/contacts", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@BOTH_STORES
def test_it_holds_campaign_messages_replies_and_inbound_on_every_channel_in_time_order(client, auth, services, store):
    configure_directly(services, "smtp")
    configure_directly(services, "whatsapp")
    ana = new_contact(client, auth, name="Ana", phone=ANA_PHONE, email="ana@example.com")
    news = {"name": "News", "channel": "smtp", "subject": "News", "body": "Hi {{ name }}", "recipients": {"all": True}}
    assert client.post("/api/campaigns", json=news, headers=auth).status_code == 201
    receive(services, "whatsapp", ANA_PHONE, "Got your newsletter", "wa-1")
    reply = client.post(
        f"/api/conversations/contact-{ana['id']}/messages", json={"body": "Glad you liked it"}, headers=auth
    )
    assert reply.status_code == 201
    receive(services, "smtp", "ana@example.com", "One more question", "imap:1:7", subject="Re: News")

    thread = client.get(f"/api/conversations/contact-{ana['id']}/messages", headers=auth).get_json()
    assert [(m["channel"], m["direction"], m["body"]) for m in thread["items"]] == [
        ("smtp", "out", "Hi Ana"),
        ("whatsapp", "in", "Got your newsletter"),
        ("whatsapp", "out", "Glad you liked it"),
        ("smtp", "in", "One more question"),
    ]
    assert thread["items"][0]["sender_type"] == "campaign"
    listed = client.get("/api/conversations", headers=auth).get_json()
    assert listed["total"] == 1
    [item] = listed["items"]
    assert (item["id"], item["unread"], item["last_message"]["body"]) == (
        f"contact-{ana['id']}",
        2,
        "One more question",
    )
    shown = client.get(f"/api/conversations/contact-{ana['id']}", headers=auth).get_json()
    assert shown["reply"] == {"source": "email", "channel": "smtp", "to": "ana@example.com"}


def test_it_replies_on_the_channel_the_contact_last_wrote_on_and_never_on_one_not_configured(client, auth, services):
    ana = new_contact(client, auth, name="Ana", phone=ANA_PHONE, email="ana@example.com")
    thread = f"/api/conversations/contact-{ana['id']}"
    refused = client.post(f"{thread}/messages", json={"body": "Hello"}, headers=auth)
    assert refused.status_code == 409 and "No configured channel" in refused.get_json()["message"]

    configure_directly(services, "whatsapp", state="disconnected")
    configure_directly(services, "smtp")
    # nothing received yet: the connected channel that reaches her (SMTP, ready) rather than WhatsApp (not connected)
    first = client.post(f"{thread}/messages", json={"body": "Hello", "subject": "Hello"}, headers=auth).get_json()
    assert (first["channel"], first["recipient"]) == ("smtp", "ana@example.com")

    receive(services, "whatsapp", ANA_PHONE, "Can you text me instead?", "wa-2")
    second = client.post(f"{thread}/messages", json={"body": "Sure"}, headers=auth).get_json()
    assert (second["channel"], second["recipient"]) == ("whatsapp", ANA_PHONE)

    receive(services, "sms", ANA_PHONE, "This is my SMS", "SM" + "b" * 32)
    # she wrote by SMS last, but SMS is not configured: never chosen
    third = client.post(f"{thread}/messages", json={"body": "Got it"}, headers=auth).get_json()
    assert (third["channel"], third["subject"]) == ("smtp", "Re: Hello")  # her last ready channel, with a subject
    named = client.post(f"{thread}/messages", json={"source": "sms", "body": "Hi"}, headers=auth)
    assert named.status_code == 409


@BOTH_STORES
def test_it_writes_inbound_whatsapp_into_a_new_contacts_thread_and_opts_out_on_stop(client, auth, services, store):
    receive(services, "whatsapp", "+14155550177", "Hi, is the shop open?", "wa-3", sender_name="Carla")
    receive(services, "whatsapp", "+14155550177", "Hi, is the shop open?", "wa-3", sender_name="Carla")  # re-read
    [carla] = client.get("/api/contacts", headers=auth).get_json()["items"]
    assert (carla["name"], carla["phone"], carla["opt_outs"]["whatsapp"]) == ("Carla", "+14155550177", None)
    events = client.get("/api/events?limit=100", headers=auth).get_json()["items"]
    [created] = [e for e in events if e["type"] == "message.created"]
    assert created["data"]["conversation_id"] == f"contact-{carla['id']}"
    assert created["data"]["message"]["channel"] == "whatsapp"

    receive(services, "whatsapp", "+14155550177", "STOP", "wa-4")
    shown = client.get(f"/api/contacts/{carla['id']}", headers=auth).get_json()
    assert shown["opt_outs"]["whatsapp"]["why"] == "stop" and shown["opt_outs"]["sms"] is None
    offer = {"name": "Offer", "channel": "whatsapp", "body": "Hi", "recipients": {"all": True}}
    assert client.post("/api/campaigns", json=offer, headers=auth).status_code == 400


def test_it_lists_threads_with_each_contacts_tags_read_in_one_query(client, auth, services):
    """The list shows every contact's tags, and reads them in one query for the page: the statements a listing
    runs do not grow with the number of contacts on it (they used to, one tags query per contact)."""
    from sqlalchemy import event

    def listing_statements() -> tuple[list[dict], int]:
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:
            seen.append(statement)

        engines = {services.db.read_engine, services.db.write_engine}
        for engine in engines:
            event.listen(engine, "before_cursor_execute", count)
        try:
            listed = client.get("/api/conversations", headers=auth).get_json()["items"]
        finally:
            for engine in engines:
                event.remove(engine, "before_cursor_execute", count)
        return listed, len(seen)

    people = [("Ana", ["VIP", "lyon"]), ("Bo", ["b2b"]), ("Cy", []), ("Di", ["lyon"])]
    for i, (name, tag_names) in enumerate(people):
        contact = new_contact(client, auth, name=name, phone=f"+1415555{2671 + i}", tags=tag_names)
        receive(services, "whatsapp", contact["phone"], f"Hello from {name}", f"wa-{i}")
        if i == 0:
            _, with_one = listing_statements()

    listed, with_four = listing_statements()
    assert {item["contact"]["name"]: item["contact"]["tags"] for item in listed} == {
        "Ana": ["lyon", "VIP"],
        "Bo": ["b2b"],
        "Cy": [],
        "Di": ["lyon"],
    }
    assert with_four == with_one
