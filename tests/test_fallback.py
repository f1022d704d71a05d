# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""Channel fallback (DESIGN section 16, issue 24 item 5), end to end against the real parts that run here.

Only a permanent outcome sends the fallback, exactly once: SMTP 550 5.1.1 (a hard bounce) -> one SMS at the
Twilio-speaking server; WhatsApp "not registered" on the WhatsApp-like page in headless Chromium -> one SMS; an
invalid number -> one email; a transient error, an outage, `uncertain` and an SMS opt-out (Twilio 21610) -> none;
the same outcome reported twice -> still one; a delivered primary cancels its standby row.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from backend.dispatch import fallback
from backend.dispatch.claims import ClaimedMessage
from backend.dispatch.outcomes import Outcome
from backend.store.models import Contact, Message
from tests.campaign_helpers import configure_smtp, event_texts, wait_status
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.twilio import FakeTwilio, twilio_signature
from tests.fakes.whatsapp_web import wait_until
from tests.fakes.whatsapp_web.fixtures import chromium_paths, fake_whatsapp_web  # noqa: F401 (fixtures)
from tests.helpers import wait_for
from tests.timing_support import add_people, configure_sms, create_campaign, start_campaign

PEOPLE = [
    {"name": "Ana", "phone": "+14155550101", "email": "ana@example.org"},
    {"name": "Bo", "phone": "+14155550102", "email": "bo@example.org"},
    {"name": "Cy", "phone": "+14155550103", "email": "cy@example.org"},
]
TO_SMS = [{"channel": "sms", "on": ["hard_bounce", "not_registered", "invalid_address", "undelivered"]}]
TO_EMAIL = [{"channel": "smtp", "on": ["invalid_address", "undelivered"], "body": "Hi {{ name }}, by email"}]


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def both(services: Any, smtp: FakeSmtpServer, twilio: FakeTwilio) -> int:
    """The default account with SMTP at `smtp` and SMS at `twilio`, and three contacts with both addresses."""
    account = configure_smtp(services, smtp.settings())
    configure_sms(services, twilio)
    add_people(services, account, PEOPLE)
    return account


def rows(services: Any, **where: Any) -> list[Message]:
    with services.db.read() as session:
        query = select(Message).filter_by(**where).order_by(Message.id)
        found = list(session.scalars(query))
        session.expunge_all()
        return found


def test_it_falls_back_to_one_sms_when_the_email_hard_bounces(client, auth, services, smtp, twilio, both, running):
    smtp.refuse("bo@example.org", "550 5.1.1 No such user")
    campaign = create_campaign(client, auth, channel="smtp", subject="News", body="Hello {{ name }}", fallback=TO_SMS)
    assert len(rows(services, status="standby")) == 3  # rendered at creation, one per recipient
    start_campaign(client, auth, campaign["id"])
    view = wait_status(client, auth, campaign["id"], "completed")
    assert [m["to"] for m in twilio.created()] == ["+14155550102"]
    assert twilio.created()[0]["body"] == "Hello Bo"
    assert view["counts"]["fallback_sent"] == 1 and view["counts"]["queued"] == 0
    texts = event_texts(services, both, "message.fallback")
    assert texts == ["Falling back to SMS for +1 415...: the email bounced"]
    assert [m.status for m in rows(services, sender_type="fallback")].count("standby") == 2  # still waiting


def test_it_falls_back_to_email_for_an_invalid_number_but_not_after_stop(
    client, auth, services, smtp, twilio, both, running
):
    twilio.fail("+14155550101", "invalid")
    twilio.fail("+14155550102", "unsubscribed")  # the recipient replied STOP: never reached another way
    campaign = create_campaign(client, auth, fallback=TO_EMAIL)
    start_campaign(client, auth, campaign["id"])
    wait_status(client, auth, campaign["id"], "completed")
    wait_for(lambda: smtp.count >= 1, what="the fallback email")
    assert [r.rcpt_tos for r in smtp.received] == [["ana@example.org"]]
    assert smtp.received[0].message.get_body(("plain",)).get_content().strip() == "Hi Ana, by email"
    bo = next(m for m in rows(services, sender_type="fallback") if m.recipient == "bo@example.org")
    assert bo.status == "standby"


def test_it_never_falls_back_on_a_transient_error_an_outage_or_an_uncertain_send(client, auth, services, both):
    campaign = create_campaign(client, auth, channel="smtp", subject="News", fallback=TO_SMS)
    primaries = rows(services, campaign_id=campaign["id"])
    results = [
        Outcome("queued", error="421 try later"),
        Outcome("queued", error="connection refused", outage=True),
        Outcome("uncertain", error="connection lost during DATA"),
    ]
    with services.db.write() as session:
        fallback.after_results(services, session, list(zip(map(claimed, primaries), results, strict=True)))
    assert {m.status for m in rows(services, sender_type="fallback")} == {"standby"}


def test_it_queues_a_fallback_once_when_the_same_outcome_is_reported_twice(client, auth, services, both):
    campaign = create_campaign(client, auth, channel="smtp", subject="News", fallback=TO_SMS)
    ana, bo, cy = rows(services, campaign_id=campaign["id"])
    bounce = Outcome("failed", error="550 5.1.1 No such user", permanent=True, opt_out="email")
    with services.db.write() as session:
        fallback.after_results(services, session, [(claimed(ana), bounce)])
    with services.db.write() as session:  # the inbox's RFC 3464 report of the same bounce, later
        assert fallback.primary_outcome(services, session, ana.id, "hard_bounce") == 0
    with services.db.write() as session:
        assert fallback.primary_outcome(services, session, bo.id, "delivered") == 1  # Bo's email arrived
        assert fallback.primary_outcome(services, session, bo.id, "undelivered") == 0  # too late: cancelled
    with services.db.write() as session:  # the inbox's entry point alone: one report, then the same again
        assert fallback.primary_outcome(services, session, cy.id, "hard_bounce") == 1
        assert fallback.primary_outcome(services, session, cy.id, "hard_bounce") == 0
    states = {m.recipient: m.status for m in rows(services, sender_type="fallback")}
    assert states == {"+14155550101": "queued", "+14155550102": "cancelled", "+14155550103": "queued"}
    bounced = "Falling back to SMS for +1 415...: the email bounced"
    assert event_texts(services, both, "message.fallback") == [bounced, bounced]


def test_it_never_falls_back_to_someone_who_opted_out_of_that_channel_since(client, auth, services, both, twilio):
    campaign = create_campaign(client, auth, channel="smtp", subject="News", fallback=TO_SMS)
    ana, bo, cy = rows(services, campaign_id=campaign["id"])
    params = twilio.inbound_params("+14155550102", "STOP")
    signature = twilio_signature(twilio.auth_token, "http://localhost/webhooks/twilio/inbound", params)
    answer = client.post("/webhooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200  # Bo replied STOP by SMS after the campaign was created
    with services.db.write() as session:  # and someone opted Cy out of SMS by a way that cancels nothing
        session.execute(update(Contact).where(Contact.id == cy.contact_id).values(opt_outs={"sms": {"why": "stop"}}))
    bounce = Outcome("failed", error="550 5.1.1 No such user", permanent=True, opt_out="email")
    with services.db.write() as session:
        fallback.after_results(services, session, [(claimed(m), bounce) for m in (ana, bo, cy)])
    states = {m.recipient: (m.status, m.last_error) for m in rows(services, sender_type="fallback")}
    assert states == {
        "+14155550101": ("queued", None),
        "+14155550102": ("cancelled", "the contact opted out"),
        "+14155550103": ("cancelled", "the contact opted out"),
    }
    assert event_texts(services, both, "message.fallback") == ["Falling back to SMS for +1 415...: the email bounced"]


def test_it_copies_a_campaign_with_its_send_window_and_fallback(client, auth, services, both):
    window = {"days": ["mon", "tue"], "start": "21:00", "end": "07:30", "timezone": "Europe/Berlin"}
    rate = {"per_minute": 30, "daily_cap": 500}
    original = create_campaign(
        client, auth, channel="smtp", subject="News", fallback=TO_SMS, send_window=window, rate=rate
    )
    assert original["send_window"] == window  # as given: what a copy sends back
    answer = client.post(f"/api/campaigns/{original['id']}/copy", headers=auth)
    assert answer.status_code == 201, answer.get_json()
    copy = answer.get_json()
    assert (copy["name"], copy["status"], copy["subject"]) == ("Copy of Timed", "draft", "News")
    assert (copy["send_window"], copy["fallback"], copy["rate"]) == (window, TO_SMS, rate)
    standby = [m.recipient for m in rows(services, sender_type="fallback", sender_id=str(copy["id"]))]
    assert standby == [p["phone"] for p in PEOPLE]  # its own fallback rows, one per recipient
    named = client.post(f"/api/campaigns/{original['id']}/copy", json={"name": "Again"}, headers=auth).get_json()
    assert (named["name"], named["send_window"]) == ("Again", window)
    refused = client.post(f"/api/campaigns/{original['id']}/copy", json={"body": "Other"}, headers=auth)
    assert refused.status_code == 400 and [d["field"] for d in refused.get_json()["details"]] == ["body"]


def claimed(message: Message) -> ClaimedMessage:
    return ClaimedMessage(
        message.id, message.account_id, message.channel, message.recipient, message.recipient_name,
        message.contact_id, message.campaign_id, message.subject, message.body, message.html_body,
        message.sender_type, message.sender_id, message.attempts, message.next_attempt_at,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([{"channel": "smtp", "on": ["hard_bounce"]}], "fallback.0.channel"),  # the same family as the primary
        ([{"channel": "gmail", "on": ["hard_bounce"]}], "fallback.0.channel"),  # gmail is email too
        ([{"channel": "whatsapp", "on": ["not_registered"]}], "fallback.0.channel"),  # not set up
        ([{"channel": "sms", "on": ["bored"]}], "fallback.0.on"),
        ([{"channel": "sms", "on": ["undelivered"]}] * 3, "fallback"),
    ],
)
def test_it_refuses_a_fallback_it_cannot_keep_naming_the_field(client, auth, services, both, steps, field):
    body = {"name": "F", "channel": "smtp", "subject": "S", "body": "Hi", "recipients": {"all": True}}
    answer = client.post("/api/campaigns", json={**body, "fallback": steps}, headers=auth)
    assert answer.status_code == 400, answer.get_json()
    assert field in {d["field"] for d in answer.get_json()["details"]}


@pytest.mark.browser
def test_it_falls_back_to_one_sms_when_the_number_is_not_on_whatsapp(
    start_server, fake_whatsapp_web, chromium_paths, twilio
):
    fake = fake_whatsapp_web
    fake.configure(invalid_numbers=["14155550102"])
    server = start_server(whatsapp_url=fake.url, chromium=chromium_paths[0], chromedriver=chromium_paths[1])
    services = server.app.extensions["bulkmsg"]
    client, auth = server.app.test_client(), {"Authorization": f"Bearer {server.token}"}
    saved = client.put("/api/channels/whatsapp", json={"min_delay_s": 0, "max_delay_s": 0}, headers=auth)
    assert saved.status_code == 200, saved.get_json()
    account = configure_sms(services, twilio)
    add_people(services, account, PEOPLE)
    client.post("/api/channels/whatsapp/connect", headers=auth)
    wait_until(lambda: _status(client, auth) == "qr", what="the QR prompt")
    fake.scan()
    wait_for(lambda: _status(client, auth) == "ready", timeout=60, what="WhatsApp ready")
    campaign = create_campaign(client, auth, channel="whatsapp", fallback=TO_SMS)
    start_campaign(client, auth, campaign["id"])
    view = wait_status(client, auth, campaign["id"], "completed", timeout=90)
    assert [m["to"] for m in twilio.created()] == ["+14155550102"]
    assert view["counts"]["failed"] == 1 and view["counts"]["fallback_sent"] == 1
    texts = event_texts(services, account, "message.fallback")
    assert texts == ["Falling back to SMS for +1 415...: not on WhatsApp"]


def _status(client: Any, auth: dict[str, str]) -> str:
    channels = {c["channel"]: c for c in client.get("/api/channels", headers=auth).get_json()}
    return str(channels["whatsapp"]["state"])
