"""SMS replies: Twilio's signed incoming-message webhook into the sender's thread, live; forgeries write nothing;
MMS media as links; unknown numbers become contacts; STOP / START opt out and back in; 21610 opts out.

The fake Twilio sends the webhook as Twilio documents it (tests/fakes/twilio/ names the source)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.store.models import Contact, Message
from tests.fakes.twilio import FakeTwilio, twilio_signature
from tests.helpers import EventSocket, api_session, wait_for

PATH = "/webhooks/twilio/inbound"
LOCAL_URL = f"http://localhost{PATH}"  # the URL Flask's test client calls
ANA = "+14155552671"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def sms_ready(client, auth, twilio) -> FakeTwilio:
    assert client.put("/api/channels/sms", json=twilio.settings(), headers=auth).status_code == 200
    return twilio


def inbound(client, twilio: FakeTwilio, from_: str, body: str, *, token: str | None = None, **options):
    params = twilio.inbound_params(from_, body, **options)
    signature = twilio_signature(token or twilio.auth_token, LOCAL_URL, params)
    return client.post(PATH, data=params, headers={"X-Twilio-Signature": signature})


def contact(client, auth, **body) -> dict:
    response = client.post("/api/contacts", json=body, headers=auth)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def counts(services) -> tuple[int, int]:
    with services.db.read() as session:
        return (
            session.scalar(select(func.count()).select_from(Message)) or 0,
            session.scalar(select(func.count()).select_from(Contact)) or 0,
        )


def sms_with_ana(live_server: Any, twilio: FakeTwilio) -> tuple[str, Any, dict[str, Any]]:
    """The live server's URL, an API session, and the contact Ana, with SMS set up on the fake Twilio."""
    base = live_server.url
    http = api_session(base, live_server.token)
    assert http.put(f"{base}/api/channels/sms", json=twilio.settings(), timeout=10).status_code == 200
    ana = http.post(f"{base}/api/contacts", json={"name": "Ana", "phone": ANA}, timeout=5).json()
    return base, http, ana


def test_it_puts_a_signed_reply_into_the_contacts_thread_live_and_counts_it_unread(live_server, twilio):
    base, http, ana = sms_with_ana(live_server, twilio)
    reply = http.post(
        f"{base}/api/conversations/contact-{ana['id']}/messages", json={"body": "Your order shipped"}, timeout=5
    )
    assert reply.status_code == 201 and reply.json()["channel"] == "sms" and reply.json()["recipient"] == ANA
    socket = EventSocket(base, live_server.token, after=None)
    try:
        status, content_type, text, sent = twilio.send_inbound(f"{base}{PATH}", ANA, "Thanks! When will it arrive?")
        created = socket.until(lambda e: e["type"] == "message.created" and e["data"]["message"]["direction"] == "in")
    finally:
        socket.close()
    assert (status, content_type.split(";")[0], text) == (
        200,
        "text/xml",
        '<?xml version="1.0" encoding="UTF-8"?><Response/>',
    )
    assert created["data"]["conversation_id"] == f"contact-{ana['id']}"
    assert created["text"] == "Message from Ana"
    message = created["data"]["message"]
    assert (message["body"], message["channel"], message["recipient"]) == ("Thanks! When will it arrive?", "sms", ANA)
    assert message["provider_message_id"] == sent["MessageSid"] and message["status"] == "received"

    thread = http.get(f"{base}/api/conversations/contact-{ana['id']}/messages", timeout=5).json()
    assert [(m["direction"], m["body"]) for m in thread["items"]] == [
        ("out", "Your order shipped"),
        ("in", "Thanks! When will it arrive?"),
    ]
    [listed] = http.get(f"{base}/api/conversations", timeout=5).json()["items"]
    assert (listed["id"], listed["unread"], listed["contact"]["name"]) == (f"contact-{ana['id']}", 1, "Ana")
    assert listed["last_message"]["body"] == "Thanks! When will it arrive?"
    read = http.post(f"{base}/api/conversations/contact-{ana['id']}/read", timeout=5).json()
    assert (read["marked"], read["unread"]) == (1, 0)
    assert http.get(f"{base}/api/conversations", timeout=5).json()["items"][0]["unread"] == 0


def test_it_refuses_a_forged_or_unsigned_webhook_and_writes_nothing(client, auth, services, sms_ready):
    forged = inbound(client, sms_ready, ANA, "STOP", token="guessed-token")
    params = sms_ready.inbound_params(ANA, "hello")
    unsigned = client.post(PATH, data=params)
    tampered_params = sms_ready.inbound_params(ANA, "hello")
    signature = twilio_signature(sms_ready.auth_token, LOCAL_URL, tampered_params)
    tampered = client.post(
        PATH, data={**tampered_params, "Body": "send me everything"}, headers={"X-Twilio-Signature": signature}
    )

    assert [forged.status_code, unsigned.status_code, tampered.status_code] == [403, 403, 403]
    assert forged.get_json()["error"] == "bad_signature"
    assert counts(services) == (0, 0)
    assert client.post(PATH, data={"From": ANA}).status_code == 400


def test_it_makes_a_contact_of_an_unknown_number_and_keeps_mms_media_as_links(client, auth, services, sms_ready):
    photo = ("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", "image/jpeg")
    response = inbound(client, sms_ready, "+14155550199", "Here is the damaged box", media=(photo,))

    assert response.status_code == 200
    [person] = client.get("/api/contacts", headers=auth).get_json()["items"]
    assert (person["phone"], person["name"]) == ("+14155550199", "")
    [message] = client.get(f"/api/conversations/contact-{person['id']}/messages", headers=auth).get_json()["items"]
    assert message["metadata"]["media"] == [{"url": photo[0], "content_type": "image/jpeg"}]
    assert message["contact_id"] == person["id"] and message["direction"] == "in"


def test_it_applies_a_repeated_message_sid_once(client, auth, services, sms_ready):
    first = inbound(client, sms_ready, ANA, "Hello?", sid="SM" + "a" * 32)
    again = inbound(client, sms_ready, ANA, "Hello?", sid="SM" + "a" * 32)

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.data == first.data
    assert counts(services) == (1, 1)
    events = client.get("/api/events?limit=100", headers=auth).get_json()["items"]
    assert len([e for e in events if e["type"] == "message.created"]) == 1


def test_it_opts_out_on_stop_at_once_and_back_in_on_start(live_server, twilio):
    base, http, ana = sms_with_ana(live_server, twilio)
    http.post(f"{base}/api/contacts", json={"name": "Bo", "phone": "+14155550123"}, timeout=5)
    texts = {"name": "Sale", "channel": "sms", "body": "20% off today", "recipients": {"all": True}}
    draft = http.post(f"{base}/api/campaigns", json=texts, timeout=5).json()
    assert draft["counts"]["total"] == 2

    def text(body: str) -> None:
        assert twilio.send_inbound(f"{base}{PATH}", ANA, body)[0] == 200

    def sms_opt_out() -> dict | None:
        return http.get(f"{base}/api/contacts/{ana['id']}", timeout=5).json()["opt_outs"]["sms"]

    text("stop please")  # not alone: just a message
    assert sms_opt_out() is None
    text(" Stop ")
    shown = http.get(f"{base}/api/contacts/{ana['id']}", timeout=5).json()
    assert shown["opt_outs"]["sms"]["why"] == "stop" and shown["opt_outs"]["email"] is None
    queued = http.get(f"{base}/api/campaigns/{draft['id']}/messages", timeout=5).json()["items"]
    assert {m["recipient"]: m["status"] for m in queued} == {ANA: "cancelled", "+14155550123": "queued"}
    later = http.post(f"{base}/api/campaigns", json=texts, timeout=5).json()
    assert (later["counts"]["total"], later["opted_out"]) == (1, 1)

    for word in ("QUIT", "unsubscribe", "End", "cancel", "STOPALL"):
        text(word)
        assert sms_opt_out(), word
    text("start")
    assert sms_opt_out() is None
    text("STOP")
    text("yes")
    assert sms_opt_out() is None
    again = http.post(f"{base}/api/campaigns", json=texts, timeout=5).json()
    assert (again["counts"]["total"], again["opted_out"]) == (2, 0)
    thread = http.get(f"{base}/api/conversations/contact-{ana['id']}/messages?limit=500", timeout=5).json()
    assert [m["body"] for m in thread["items"] if m["direction"] == "in"][:2] == ["stop please", " Stop "]


def test_it_opts_out_a_contact_whose_text_twilio_refuses_with_21610(live_server, twilio):
    base, http, ana = sms_with_ana(live_server, twilio)
    twilio.fail(ANA, "unsubscribed")

    sent = http.post(f"{base}/api/conversations/contact-{ana['id']}/messages", json={"body": "Hi"}, timeout=5).json()

    failed = wait_for(
        lambda: (m := http.get(f"{base}/api/messages/{sent['id']}", timeout=5).json())["status"] == "failed" and m,
        what="the refused message to fail",
    )
    assert failed["last_error"] == "the recipient has unsubscribed (replied STOP)"
    shown = http.get(f"{base}/api/contacts/{ana['id']}", timeout=5).json()
    assert shown["opt_outs"]["sms"]["why"] == "stop"
