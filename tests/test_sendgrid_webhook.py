"""SendGrid's signed Event Webhook: real P-256 signatures made here, the way SendGrid signs (ECDSA over
timestamp + raw body, base64 DER), against `POST /webhooks/sendgrid/events`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from backend.accounts import get_or_create_account
from backend.channels.base import OutboundMessage
from backend.channels.sendgrid_events import SIGNATURE_HEADER, TIMESTAMP_HEADER, sendgrid_headers
from backend.store.models import Account, Communication, Message, utcnow
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import bearer, require, wait_for

PATH = "/webhooks/sendgrid/events"


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_b64(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def signed(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SIGNATURE_HEADER: base64.b64encode(signature).decode(),
        TIMESTAMP_HEADER: stamp,
        "Content-Type": "application/json",
    }


def add_sent_email(services: Any, account_id: int, recipient: str = "ana@example.org") -> int:
    with services.db.write() as session:
        message = Message(
            account_id=account_id,
            channel="smtp",
            recipient=recipient,
            subject="Hello",
            body="Hi",
            sender_type="conversation",
            sender_id="c-1",
            status="sent",
            sent_at=utcnow(),
            delivery_next_check_at=utcnow() + timedelta(hours=1),
        )
        session.add(message)
        session.flush()
        message.provider_message_id = f"<bulkmsg.{account_id}.{message.id}@example.com>"
        return message.id


def event(name: str, *, message_id: int, account_id: int, by: str = "args", **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "email": "ana@example.org",
        "timestamp": int(time.time()),
        "event": name,
        "sg_event_id": f"sg-{name}-{message_id}-{extra.pop('n', 0)}",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
    }
    if by == "args":
        found.update(bulkmsg_account=str(account_id), bulkmsg_message_id=str(message_id))
    else:
        found["smtp-id"] = f"<bulkmsg.{account_id}.{message_id}@example.com>"
    found.update(extra)
    return found


def set_key(services: Any, account_id: int, key: ec.EllipticCurvePrivateKey) -> None:
    with services.db.write() as session:
        account = session.get(Account, account_id)
        account.settings = {**(account.settings or {}), "sendgrid_public_key": public_b64(key)}


def communications(services: Any) -> int:
    with services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Communication)) or 0)


@pytest.fixture
def config(make_config: Any, database_url: str) -> Any:
    """The webhook's tests run on SQLite and on PostgreSQL (the conflict-ignoring insert differs)."""
    return make_config(database_url=database_url)


@pytest.fixture
def key() -> ec.EllipticCurvePrivateKey:
    return new_key()


@pytest.fixture
def account(services: Any, key: ec.EllipticCurvePrivateKey) -> int:
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
    set_key(services, account_id, key)
    return account_id


def test_it_records_each_signed_event_once_with_its_meaning(client: Any, services: Any, key: Any, account: int) -> None:
    first, second = add_sent_email(services, account), add_sent_email(services, account, "bo@example.org")
    batch = [
        event("processed", message_id=first, account_id=account),
        event("delivered", message_id=first, account_id=account),
        event("deferred", message_id=second, account_id=account, by="smtp-id", response="451 try later"),
        event("bounce", message_id=second, account_id=account, by="smtp-id", reason="550 5.1.1 no such user"),
    ]
    body = json.dumps(batch).encode()

    answer = client.post(PATH, data=body, headers=signed(key, body))
    replay = client.post(PATH, data=body, headers=signed(key, body))

    assert answer.status_code == 200 and answer.get_json() == {"applied": 4, "duplicates": 0, "ignored": 0}
    assert replay.status_code == 200 and replay.get_json()["duplicates"] == 4
    with services.db.read() as session:
        rows = {c.provider_event_id: c for c in session.scalars(select(Communication))}
    assert len(rows) == 4
    assert {(c.message_id, c.provider_status, c.success) for c in rows.values()} == {
        (first, "processed", None),
        (first, "delivered", True),
        (second, "deferred", None),
        (second, "bounce", False),
    }
    assert rows[f"sg-bounce-{second}-0"].error_text == "550 5.1.1 no such user"
    assert all(c.provider == "sendgrid" and c.account_id == account for c in rows.values())


@pytest.mark.parametrize("forgery", ["tampered body", "wrong key", "stale timestamp", "hmac", "no signature"])
def test_it_refuses_a_forged_or_stale_batch_and_writes_nothing(
    client: Any, services: Any, key: Any, account: int, forgery: str
) -> None:
    message_id = add_sent_email(services, account)
    body = json.dumps([event("delivered", message_id=message_id, account_id=account)]).encode()
    headers = signed(key, body)
    if forgery == "tampered body":
        body = body.replace(b"delivered", b"bounce")
    elif forgery == "wrong key":
        headers = signed(new_key(), body)
    elif forgery == "stale timestamp":
        headers = signed(key, body, timestamp=int(time.time()) - 301)
    elif forgery == "hmac":
        # The classic confusion: an HMAC keyed with the (public) verification key instead of an ECDSA signature.
        stamp = headers[TIMESTAMP_HEADER]
        mac = hmac.new(public_b64(key).encode(), stamp.encode() + body, hashlib.sha256).digest()
        headers[SIGNATURE_HEADER] = base64.b64encode(mac).decode()
    else:
        del headers[SIGNATURE_HEADER]

    answer = client.post(PATH, data=body, headers=headers)

    assert answer.status_code == 403
    assert answer.get_json()["error"] == "bad_signature"
    assert communications(services) == 0


def test_it_applies_events_only_for_the_account_whose_key_signed(client: Any, services: Any, key: Any) -> None:
    with services.db.write() as session:
        ours, theirs = get_or_create_account(session, "ours").id, get_or_create_account(session, "theirs").id
    other_key = new_key()
    set_key(services, ours, key)
    set_key(services, theirs, other_key)
    our_message, their_message = add_sent_email(services, ours), add_sent_email(services, theirs)
    only_theirs = json.dumps([event("bounce", message_id=their_message, account_id=theirs)]).encode()
    mixed = json.dumps(
        [
            event("delivered", message_id=our_message, account_id=ours),
            event("bounce", message_id=their_message, account_id=theirs),
        ]
    ).encode()

    assert client.post(PATH, data=only_theirs, headers=signed(key, only_theirs)).status_code == 403
    answer = client.post(PATH, data=mixed, headers=signed(key, mixed))

    assert answer.get_json() == {"applied": 1, "duplicates": 0, "ignored": 1}
    with services.db.read() as session:
        assert [c.message_id for c in session.scalars(select(Communication))] == [our_message]


def test_it_answers_sendgrids_test_batch_only_when_signed(client: Any, services: Any, key: Any, account: int) -> None:
    body = json.dumps([{"email": "example@test.com", "event": "processed", "sg_event_id": "test-1"}]).encode()

    assert client.post(PATH, data=body, headers=signed(key, body)).get_json()["ignored"] == 1
    assert client.post(PATH, data=body, headers=signed(new_key(), body)).status_code == 403
    assert communications(services) == 0


def test_it_gives_smtp_relay_mail_the_arguments_sendgrid_reports_back() -> None:
    message = OutboundMessage(id=42, account_id=7, channel="smtp", recipient="ana@example.org", body="Hi")
    header = json.loads(sendgrid_headers(message)["X-SMTPAPI"])
    assert header == {"unique_args": {"bulkmsg_account": "7", "bulkmsg_message_id": "42"}}


def test_it_settles_delivered_and_bounced_mail_through_the_delivery_job(start_server: Any) -> None:
    server = start_server()
    services = server.app.extensions["bulkmsg"]
    require(services.delivery_job is not None, "the delivery-status job (backend/jobs/delivery/status.py) is missing")
    key = new_key()
    answer = requests.put(
        f"{server.url}/api/settings",
        json={"sendgrid_public_key": public_b64(key)},
        headers=bearer(server.token),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    delivered, bounced = add_sent_email(services, 1), add_sent_email(services, 1, "gone@example.org")
    batch = [
        event("delivered", message_id=delivered, account_id=1),
        event("bounce", message_id=bounced, account_id=1, by="smtp-id", reason="550 5.1.1 unknown user"),
    ]
    body = json.dumps(batch).encode()

    started = time.monotonic()
    assert requests.post(f"{server.url}{PATH}", data=body, headers=signed(key, body), timeout=10).status_code == 200

    def delivery(message_id: int) -> str:
        view = requests.get(f"{server.url}/api/messages/{message_id}", headers=bearer(server.token), timeout=10)
        return str(view.json()["delivery"])

    wait_for(lambda: delivery(delivered) == "delivered", timeout=5, what="the delivered event to settle")
    wait_for(lambda: delivery(bounced) == "undelivered", timeout=5, what="the bounce to settle")
    assert time.monotonic() - started < 3.0  # nudged at once, not left to the 5-second sweep


def test_it_matches_events_for_mail_the_smtp_channel_sent_through_a_relay(start_server: Any) -> None:
    relay = FakeSmtpServer("plain").start()  # stands in for smtp.sendgrid.net
    try:
        server = start_server()
        services = server.app.extensions["bulkmsg"]
        key = new_key()
        set_key(services, 1, key)
        saved = requests.put(
            f"{server.url}/api/channels/smtp", json=relay.settings(), headers=bearer(server.token), timeout=10
        )
        assert saved.status_code == 200, saved.text
        created = requests.post(
            f"{server.url}/api/conversations/c-7/messages",
            json={"source": "email", "channel": "smtp", "to": "ana@example.org", "subject": "Hi", "body": "Hello"},
            headers=bearer(server.token),
            timeout=10,
        )
        assert created.status_code == 201, created.text
        wait_for(lambda: relay.count == 1, what="the mail to reach the relay")
        sent = f"{server.url}/api/messages/{created.json()['id']}"
        # the relay has the mail a moment before the dispatcher stores its Message-ID (a busy machine shows it)
        wait_for(
            lambda: requests.get(sent, headers=bearer(server.token), timeout=10).json()["status"] == "sent",
            timeout=30,
            what="the send to be recorded",
        )
        message_id_header = str(relay.received[0].message["Message-ID"])
        # SendGrid reports the relayed mail's Message-ID as `smtp-id` in every event.
        batch = [{"event": "delivered", "sg_event_id": "relay-1", "smtp-id": message_id_header, "timestamp": 1}]
        body = json.dumps(batch).encode()

        answer = requests.post(f"{server.url}{PATH}", data=body, headers=signed(key, body), timeout=10)

        assert answer.json() == {"applied": 1, "duplicates": 0, "ignored": 0}
        with services.db.read() as session:
            [row] = session.scalars(select(Communication)).all()
        assert row.message_id == created.json()["id"] and row.success is True
    finally:
        relay.stop()


def test_it_suppresses_an_address_sendgrid_hard_bounced_or_dropped_but_not_a_soft_block(client, auth, services):
    key = new_key()
    set_key(services, 1, key)
    people = {}
    for name, email in (("Ana", "ana@example.org"), ("Bo", "bo@example.org"), ("Cy", "cy@example.org")):
        made = client.post("/api/contacts", json={"name": name, "email": email}, headers=auth)
        people[email] = made.get_json()["id"]
    ana, bo, cy = (add_sent_email(services, 1, email) for email in people)
    # the shapes of SendGrid's documented bounce (type bounce / blocked) and dropped events
    events = [
        event("bounce", message_id=ana, account_id=1, type="bounce", status="5.1.1", reason="550 5.1.1 no such user"),
        event("dropped", message_id=bo, account_id=1, email="bo@example.org", reason="Bounced Address"),
        event("bounce", message_id=cy, account_id=1, email="cy@example.org", type="blocked", status="4.0.0"),
    ]
    body = json.dumps(events).encode()

    assert client.post(PATH, data=body, headers=signed(key, body)).get_json()["applied"] == 3

    shown = {c["email"]: c["opt_outs"]["email"] for c in client.get("/api/contacts", headers=auth).get_json()["items"]}
    assert shown["ana@example.org"]["why"] == "hard_bounce" and shown["bo@example.org"]["why"] == "hard_bounce"
    assert shown["cy@example.org"] is None
    news = {"name": "News", "channel": "smtp", "subject": "News", "body": "Hi", "recipients": {"all": True}}
    created = client.post("/api/campaigns", json=news, headers=auth).get_json()
    assert (created["counts"]["total"], created["opted_out"]) == (1, 2)
