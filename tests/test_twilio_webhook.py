"""`POST /webhooks/twilio/status`: Twilio's signature exactly, nothing written on a bad callback, and the whole
path from a conversation SMS to `message.updated` on a real server with a real WebSocket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.channels.base import ChannelContext, OutboundMessage
from backend.channels.sms.channel import SmsChannel
from backend.store.models import Communication, Message, utcnow
from tests.fakes.twilio import FakeTwilio, twilio_signature
from tests.helpers import EventSocket, api_session, bearer, require

PATH = "/webhooks/twilio/status"
LOCAL_URL = f"http://localhost{PATH}"  # the URL Flask's test client calls


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


class NudgeCounter:
    def __init__(self) -> None:
        self.nudges = 0

    def nudge(self) -> None:
        self.nudges += 1


@pytest.fixture
def job(services) -> NudgeCounter:
    services.delivery_job = counter = NudgeCounter()
    return counter


def sent_sms(client, auth, services, twilio: FakeTwilio, account: int = 1) -> tuple[int, str]:
    """Configure SMS for `account` and send one message through the channel; returns (message id, SID)."""
    assert client.put("/api/channels/sms", json=twilio.settings(), headers=auth).status_code == 200
    settings, secrets = SmsChannel.validate_settings(twilio.settings())
    sid = SmsChannel(settings, secrets, ChannelContext(account, services.config.data_dir)).send(
        OutboundMessage(id=0, account_id=account, channel="sms", recipient="+14155552671", body="Hi")
    )
    with services.db.write() as session:
        message = Message(
            account_id=account,
            channel="sms",
            recipient="+14155552671",
            body="Hi",
            sender_type="conversation",
            sender_id="c1",
            status="sent",
            provider_message_id=sid,
            sent_at=utcnow(),
            delivery_next_check_at=utcnow(),
        )
        session.add(message)
        session.flush()
        return message.id, sid


def callback(client, twilio: FakeTwilio, sid: str, status: str = "delivered", *, url: str = LOCAL_URL, **kw: Any):
    params = twilio.callback_params(twilio.messages[sid], status, kw.pop("error_code", None))
    params.update(kw.pop("override", {}))
    token = kw.pop("token", twilio.auth_token)
    headers = {} if kw.pop("unsigned", False) else {"X-Twilio-Signature": twilio_signature(token, url, params)}
    params.update(kw.pop("tamper", {}))
    return client.post(PATH, data=params, headers=headers)


def communications(services) -> list[Communication]:
    with services.db.read() as session:
        return list(session.scalars(select(Communication).order_by(Communication.id)))


def test_it_records_a_signed_callback_once_and_nudges_the_delivery_job(client, auth, services, twilio, job):
    message_id, sid = sent_sms(client, auth, services, twilio)

    first = callback(client, twilio, sid, "delivered")
    replay = callback(client, twilio, sid, "delivered")

    assert first.status_code == 204
    assert (
        replay.status_code == 409
        and replay.get_json()["message"] == "This status of this message was already recorded."
    )
    [row] = communications(services)
    assert (row.message_id, row.provider, row.provider_event_id) == (message_id, "twilio", f"{sid}:delivered")
    assert (row.provider_status, row.success, row.account_id) == ("delivered", True, 1)
    assert row.payload["MessageSid"] == sid
    assert job.nudges == 1


def test_it_records_an_undelivered_sms_with_its_error(client, auth, services, twilio, job):
    _, sid = sent_sms(client, auth, services, twilio)

    assert callback(client, twilio, sid, "sent").status_code == 204
    assert callback(client, twilio, sid, "undelivered", error_code="30003").status_code == 204

    sent, undelivered = communications(services)
    assert sent.success is None
    assert (undelivered.success, undelivered.error_code) == (False, "30003")
    assert undelivered.error_text == "the phone is switched off or unreachable"


@pytest.mark.parametrize(
    "bad",
    [
        {"unsigned": True},
        {"token": "0" * 32},
        {"url": "http://localhost/webhooks/other"},
        {"tamper": {"MessageStatus": "delivered"}},
        {"tamper": {"Extra": "1"}},
    ],
    ids=["missing", "wrong-token", "other-url", "tampered-status", "added-param"],
)
def test_it_refuses_a_callback_whose_signature_does_not_match(client, auth, services, twilio, job, bad):
    _, sid = sent_sms(client, auth, services, twilio)

    response = callback(client, twilio, sid, "undelivered", **bad)

    assert response.status_code == 403
    assert response.get_json()["error"] == "bad_signature"
    assert communications(services) == [] and job.nudges == 0


def test_it_answers_404_for_an_unknown_message_and_400_without_a_sid(client, auth, services, twilio, job):
    _, sid = sent_sms(client, auth, services, twilio)

    unknown = callback(client, twilio, sid, override={"MessageSid": "SM" + "0" * 32, "SmsSid": "SM" + "0" * 32})
    no_sid = client.post(PATH, data={"MessageStatus": "delivered"})
    not_a_form = client.post(PATH, json={"MessageSid": sid, "MessageStatus": "delivered"})
    odd_status = callback(client, twilio, sid, override={"MessageStatus": "delivered'; --"})

    assert unknown.status_code == 404
    assert no_sid.status_code == 400 and not_a_form.status_code == 400 and odd_status.status_code == 400
    assert communications(services) == [] and job.nudges == 0


def test_it_checks_the_url_twilio_called_at_the_public_url(client, auth, services, twilio, job):
    client.put("/api/settings", json={"public_url": "https://example.ngrok.app"}, headers=auth)
    _, sid = sent_sms(client, auth, services, twilio)

    public = callback(client, twilio, sid, "sent", url=f"https://example.ngrok.app{PATH}")
    with_port = callback(client, twilio, sid, "delivered", url=f"https://example.ngrok.app:443{PATH}")

    assert (public.status_code, with_port.status_code) == (204, 204)
    assert len(communications(services)) == 2


def test_it_accepts_a_callback_forwarded_by_a_tunnel_with_the_public_host(client, auth, services, twilio, job):
    client.put("/api/settings", json={"public_url": "https://example.ngrok.app"}, headers=auth)
    _, sid = sent_sms(client, auth, services, twilio)
    params = twilio.callback_params(twilio.messages[sid], "delivered", None)
    signature = twilio_signature(twilio.auth_token, f"https://example.ngrok.app{PATH}", params)

    response = client.post(PATH, data=params, headers={"X-Twilio-Signature": signature, "Host": "example.ngrok.app"})

    assert response.status_code == 204, response.get_json()


def test_it_checks_the_signature_with_the_messages_own_account(client, auth, services, twilio, job):
    with FakeTwilio() as other_twilio:
        other_auth = bearer(services.account_token("other"))
        other_account = 2
        _, sid = sent_sms(client, other_auth, services, other_twilio, account=other_account)
        client.put("/api/channels/sms", json=twilio.settings(), headers=auth)

        signed_by_a = callback(client, other_twilio, sid, token=twilio.auth_token)
        signed_by_owner = callback(client, other_twilio, sid)

    assert signed_by_a.status_code == 403
    assert signed_by_owner.status_code == 204
    assert [c.account_id for c in communications(services)] == [other_account]


# -- the whole path on a real server ------------------------------------------------------------------------------


def test_it_settles_a_conversation_sms_end_to_end_over_a_real_socket(live_server, twilio):
    require(
        live_server.app.extensions["bulkmsg"].delivery_job is not None,
        "the delivery-status job (backend/jobs/delivery/status.py) is not installed in CAPABILITIES yet",
    )
    base = live_server.url
    http = api_session(base, live_server.token)
    assert http.put(f"{base}/api/settings", json={"public_url": base}, timeout=5).status_code == 200
    configured = http.put(f"{base}/api/channels/sms", json=twilio.settings(), timeout=10)
    assert configured.status_code == 200, configured.json()
    socket = EventSocket(base, live_server.token, after=None)
    try:
        created = http.post(
            f"{base}/api/conversations/contact-1/messages",
            json={"source": "sms", "to": "+1 (415) 555-2671", "body": "Your appointment is at 10:00"},
            timeout=5,
        )
        assert created.status_code == 201, created.json()
        message_id = created.json()["id"]

        sent = socket.until(lambda e: e["type"] == "send.progress" and e["data"]["message_id"] == message_id)
        assert sent["text"] == "Sent to +14155552671" and sent["data"]["status"] == "sent"
        assert sent["data"]["conversation_id"] == "contact-1"
        [message] = twilio.created()
        assert message["body"] == "Your appointment is at 10:00"
        assert twilio.posts()[-1].form["StatusCallback"] == f"{base}/webhooks/twilio/status"

        assert twilio.deliver(message["sid"], "delivered") == 204
        updated = socket.until(
            lambda e: (
                e["type"] == "message.updated"
                and e["data"]["message"]["id"] == message_id
                and e["data"]["message"]["delivered"] is True
            ),
            timeout=6,
        )
    finally:
        socket.close()
    shown = http.get(f"{base}/api/messages/{message_id}", timeout=5).json()
    assert shown["status"] == "sent" and shown["delivered"] is True and shown["delivery"] == "delivered"
    assert shown["metadata"]["communication_id"] is not None
    assert updated["data"]["message"]["metadata"]["communication_id"] == shown["metadata"]["communication_id"]
    services = live_server.app.extensions["bulkmsg"]
    with services.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Communication)) == 1


def test_it_polls_twilio_for_delivery_when_no_public_url_is_set(live_server, twilio):
    services = live_server.app.extensions["bulkmsg"]
    require(services.delivery_job is not None, "the delivery-status job is not installed in CAPABILITIES yet")
    require(services.config.public_url is None, "BULKMSG_PUBLIC_URL is set in this environment")
    base = live_server.url
    http = api_session(base, live_server.token)
    assert http.put(f"{base}/api/channels/sms", json=twilio.settings(), timeout=10).status_code == 200
    socket = EventSocket(base, live_server.token, after=None)
    try:
        created = http.post(
            f"{base}/api/conversations/contact-2/messages",
            json={"source": "sms", "to": "+14155552671", "body": "Behind NAT"},
            timeout=5,
        ).json()
        socket.until(lambda e: e["type"] == "send.progress" and e["data"]["message_id"] == created["id"])
        [message] = twilio.created()
        assert "StatusCallback" not in twilio.posts()[-1].form
        assert twilio.deliver(message["sid"], "undelivered", error_code="30006") is None, "nobody to call back"
        services.delivery_job.nudge()  # as the trigger route does; the 5-second sweep would too

        updated = socket.until(
            lambda e: e["type"] == "message.updated" and e["data"]["message"]["delivered"] is False, timeout=12
        )
    finally:
        socket.close()
    assert updated["text"] == "Not delivered to +14155552671: a landline or a carrier that cannot receive SMS"
    fetches = [r for r in twilio.received if r.method == "GET" and message["sid"] in r.path]
    assert fetches and all(r.authorized for r in fetches)
