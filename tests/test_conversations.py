"""Support conversations through the HTTP API, on SQLite and on PostgreSQL: queueing, listing, accounts apart."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, update

from backend.store.models import Event, Message
from tests.fakes.twilio import FakeTwilio
from tests.helpers import bearer

NUMBER = "+14155552671"


BOTH_STORES = pytest.mark.parametrize("store", ["sqlite", "postgresql"])


@pytest.fixture
def config(make_config, request, tmp_path):
    """SQLite, or PostgreSQL for the tests marked BOTH_STORES (the queries that differ between the two)."""
    store = getattr(request.node, "callspec", None) and request.node.callspec.params.get("store")
    if store == "postgresql":
        return make_config(database_url=request.getfixturevalue("pg_url"))
    return make_config()


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def sms_ready(client, auth, twilio) -> FakeTwilio:
    assert client.put("/api/channels/sms", json=twilio.settings(), headers=auth).status_code == 200
    return twilio


def configure_directly(services, channel: str, account: int = 1) -> None:
    """Store settings without verifying them (email channels are tested elsewhere against their servers)."""
    services.channels.configure(account, channel, {"configured": True}, {}, "ready", "Ready")


def post(client, auth, conversation: str = "contact-7", **body):
    return client.post(f"/api/conversations/{conversation}/messages", json=body, headers=auth)


def message_count(services) -> int:
    with services.db.read() as session:
        return session.scalar(select(func.count()).select_from(Message))


@BOTH_STORES
def test_it_queues_a_conversation_sms_and_shows_it(client, auth, sms_ready, store):
    response = post(client, auth, source="sms", to=NUMBER, body="Your ticket #42 is solved")

    assert response.status_code == 201, response.get_json()
    message = response.get_json()
    assert response.headers["Location"] == f"/api/messages/{message['id']}"
    assert message["status"] == "queued" and message["source"] == "sms"
    assert (message["sender_type"], message["sender_id"]) == ("conversation", "contact-7")
    assert message["recipient"] == NUMBER and message["delivered"] is None and message["delivery"] == "pending"
    assert client.get(f"/api/messages/{message['id']}", headers=auth).get_json() == message
    [event] = [e for e in client.get("/api/events", headers=auth).get_json()["items"] if e["type"] == "message.updated"]
    assert event["text"] == f"Queued for {NUMBER}" and event["data"]["message"]["id"] == message["id"]


def test_it_reads_a_national_number_with_the_default_country(client, auth, sms_ready):
    client.put("/api/settings", json={"default_country": "DE"}, headers=auth)

    response = post(client, auth, source="sms", to="030 1234567", body="Hallo")

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["recipient"] == "+49301234567"


def test_it_says_to_configure_a_channel_that_is_not_configured(client, auth, services):
    sms = post(client, auth, source="sms", to=NUMBER, body="Hi")
    email = post(client, auth, source="email", to="ann@example.com", subject="Hi", body="Hi")

    assert (sms.status_code, sms.get_json()["message"]) == (
        409,
        "The SMS channel is not configured; configure it under Channels.",
    )
    assert (email.status_code, email.get_json()["message"]) == (
        409,
        "No email channel is configured; configure SMTP or Gmail under Channels.",
    )
    assert message_count(services) == 0


def test_it_sends_email_through_the_configured_channel_and_smtp_when_both_are(client, auth, services):
    configure_directly(services, "gmail")
    through_gmail = post(client, auth, source="email", to="Ann@Example.com", subject="Re: order", body="Hi")
    configure_directly(services, "smtp")
    through_smtp = post(client, auth, source="email", to="ann@example.com", subject="Re: order", body="Hi")
    chosen = post(client, auth, source="email", channel="gmail", to="ann@example.com", subject="Re", body="Hi")

    assert through_gmail.status_code == 201, through_gmail.get_json()
    assert through_gmail.get_json()["channel"] == "gmail"
    assert through_gmail.get_json()["recipient"] == "Ann@example.com"
    assert through_smtp.get_json()["channel"] == "smtp"
    assert chosen.get_json()["channel"] == "gmail"


BAD_INPUT = [
    ({"source": "fax", "to": NUMBER, "body": "Hi"}, "source"),
    ({"source": "sms", "to": 4155552671, "body": "Hi"}, "to"),
    ({"source": "sms", "to": "+1 415 555", "body": "Hi"}, "to"),
    ({"source": "sms", "to": NUMBER, "body": None}, "body"),
    ({"source": "sms", "to": NUMBER, "body": "x" * 1601}, "body"),
    ({"source": "sms", "to": NUMBER, "body": "Hi", "subject": "Hello"}, "subject"),
    ({"source": "sms", "to": NUMBER, "body": "Hi", "channel": "smtp"}, "channel"),
    ({"source": "email", "to": "not-an-address", "subject": "Hi", "body": "Hi"}, "to"),
    ({"source": "email", "to": "ann@example.com", "subject": "Hi\r\nBcc: all@example.com", "body": "Hi"}, "subject"),
    ({"source": "email", "to": "ann@example.com", "body": "Hi"}, "subject"),
    ({"source": "sms", "to": NUMBER, "body": "Hi", "priority": "high"}, "priority"),
    ({"source": "sms", "to": NUMBER, "body": "Hi", "contact_id": "7"}, "contact_id"),
]


@BOTH_STORES
def test_it_refuses_bad_input_with_the_field_and_writes_nothing(client, auth, services, sms_ready, store):
    configure_directly(services, "smtp")

    for body, field in BAD_INPUT:
        response = post(client, auth, **body)
        assert response.status_code == 400, (body, response.get_json())
        assert field in [d["field"] for d in response.get_json()["details"]], (body, response.get_json())
    assert post(client, auth, source="sms", to=NUMBER, body="x" * 1600).status_code == 201
    assert message_count(services) == 1


def test_it_refuses_malformed_json_and_a_too_long_conversation_id(client, auth, services, sms_ready):
    malformed = client.post(
        "/api/conversations/c1/messages", data='{"source": "sms",', content_type="application/json", headers=auth
    )
    too_long = post(client, auth, conversation="c" * 101, source="sms", to=NUMBER, body="Hi")

    assert malformed.status_code == 400 and malformed.get_json()["message"] == "The body is not valid JSON."
    assert too_long.status_code == 400
    assert message_count(services) == 0


@BOTH_STORES
def test_it_lists_conversations_with_their_last_message(client, auth, sms_ready, store):
    for conversation, text in [("alice", "one"), ("bob", "two"), ("alice", "three")]:
        assert post(client, auth, conversation, source="sms", to=NUMBER, body=text).status_code == 201

    listed = client.get("/api/conversations", headers=auth).get_json()
    thread = client.get("/api/conversations/alice/messages", headers=auth).get_json()

    assert listed["total"] == 2
    assert [(c["conversation_id"], c["message_count"], c["last_message"]["body"]) for c in listed["items"]] == [
        ("alice", 2, "three"),
        ("bob", 1, "two"),
    ]
    assert thread["total"] == 2 and [m["body"] for m in thread["items"]] == ["one", "three"]
    paged = client.get("/api/conversations/alice/messages?limit=1&offset=1", headers=auth).get_json()
    assert [m["body"] for m in paged["items"]] == ["three"] and paged["total"] == 2
    assert client.get("/api/conversations/alice/messages?status=lost", headers=auth).status_code == 400


@BOTH_STORES
def test_it_never_shows_one_account_another_accounts_messages(client, auth, services, sms_ready, store):
    mine = post(client, auth, "shared-id", source="sms", to=NUMBER, body="for A only").get_json()
    other = bearer(services.account_token("other"))

    assert client.get(f"/api/messages/{mine['id']}", headers=other).status_code == 404
    assert client.get("/api/conversations", headers=other).get_json() == {"items": [], "total": 0}
    assert client.get("/api/conversations/shared-id/messages", headers=other).get_json() == {"items": [], "total": 0}
    assert post(client, other, "shared-id", source="sms", to=NUMBER, body="B").status_code == 409
    assert client.post(f"/api/messages/{mine['id']}/requeue", headers=other).status_code == 404
    with services.db.read() as session:
        other_events = session.scalar(select(func.count()).select_from(Event).where(Event.account_id != 1))
    assert other_events == 0


@BOTH_STORES
def test_it_requeues_an_uncertain_message_once_the_user_decides_to(client, auth, services, sms_ready, store):
    message = post(client, auth, source="sms", to=NUMBER, body="Hi").get_json()
    assert client.post(f"/api/messages/{message['id']}/requeue", headers=auth).status_code == 409
    with services.db.write() as session:
        session.execute(update(Message).values(status="uncertain", attempts=1, last_error="no answer in time"))

    requeued = client.post(f"/api/messages/{message['id']}/requeue", headers=auth)

    assert requeued.status_code == 200
    assert (requeued.get_json()["status"], requeued.get_json()["last_error"]) == ("queued", None)
    assert client.get("/api/messages/999999", headers=auth).status_code == 404


def test_it_answers_every_contact_the_import_kept_at_the_address_the_import_read(client, auth, sms_ready, services):
    """The import and the reply route judge addresses alike (backend.addresses): a number written with `00` and
    an address at the reserved .test domain were kept by the import but refused by the reply route."""
    configure_directly(services, "smtp")
    csv = b"Name,Phone,Email\r\nBo,0044 20 7946 0958,\r\nAna,,ana@example.test\r\n"
    form = {"file": (io.BytesIO(csv), "contacts.csv")}
    imported = client.post("/api/contacts/import", headers=auth, data=form, content_type="multipart/form-data")
    assert imported.status_code == 200, imported.get_json()
    kept = {c["name"]: c for c in client.get("/api/contacts", headers=auth).get_json()["items"]}
    assert (kept["Bo"]["phone"], kept["Ana"]["email"]) == ("+442079460958", "ana@example.test")

    sms = post(client, auth, f"contact-{kept['Bo']['id']}", source="sms", to="0044 20 7946 0958", body="Hi Bo")
    mail = post(
        client, auth, f"contact-{kept['Ana']['id']}", source="email", to="ana@example.test", subject="Hi", body="Hi"
    )

    assert sms.status_code == 201, sms.get_json()
    assert mail.status_code == 201, mail.get_json()
    assert (sms.get_json()["recipient"], mail.get_json()["recipient"]) == ("+442079460958", "ana@example.test")
