"""SMS senders and pace settings (issue 12): a phone number, an alphanumeric sender ID or a Messaging Service SID,
`per_minute` and `concurrency`, through the HTTP API against the Twilio-speaking test server.

Shapes from Twilio's documentation: a Messaging Service SID is `MG` followed by 32 hex digits and is sent as
`MessagingServiceSid` instead of `From`; an alphanumeric sender ID is 1-11 letters, digits and spaces with at least
one letter; a request with neither sender is refused with error 21603.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import phonenumbers
import pytest

from backend.channels.base import ChannelContext, OutboundMessage
from backend.channels.sms.channel import SmsChannel
from backend.channels.sms.settings import EXAMPLE_NUMBER
from tests.fakes.twilio import FakeTwilio

SERVICE_SID = "MG" + "0123456789abcdef" * 2


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def put(client: Any, auth: dict[str, str], settings: dict[str, Any]) -> Any:
    return client.put("/api/channels/sms", json=settings, headers=auth)


def problems(response: Any) -> dict[str, str]:
    assert response.status_code == 400, response.get_json()
    return {d["field"]: d["reason"] for d in response.get_json()["details"]}


def test_it_sends_from_a_messaging_service_and_from_an_alphanumeric_sender_id(client, auth, twilio, tmp_path):
    saved = put(client, auth, twilio.settings(from_number=None, messaging_service_sid=SERVICE_SID))
    assert saved.status_code == 200, saved.get_json()
    view = next(c for c in client.get("/api/channels", headers=auth).get_json() if c["channel"] == "sms")
    assert view["settings"]["messaging_service_sid"] == SERVICE_SID and "from_number" not in view["settings"]
    assert (view["settings"]["per_minute"], view["settings"]["concurrency"]) == (60, 4)

    for sender in ({"messaging_service_sid": SERVICE_SID}, {"from_number": "Acme Shop"}):
        settings, secrets = SmsChannel.validate_settings({**twilio.settings(from_number=None), **sender})
        channel = SmsChannel(settings, secrets, ChannelContext(account_id=1, data_dir=tmp_path))
        channel.send(OutboundMessage(id=1, account_id=1, channel="sms", recipient="+15551230001", body="Hi"))
        channel.close()
    service, named = twilio.posts()[-2:]
    assert service.form.get("MessagingServiceSid") == SERVICE_SID and "From" not in service.form
    assert named.form.get("From") == "Acme Shop" and "MessagingServiceSid" not in named.form


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"from_number": "+1 555"}, "from_number", "E.164"),
        ({"from_number": "TwelveLetter"}, "from_number", "1 to 11 letters"),
        ({"from_number": "12345"}, "from_number", "at least one letter"),
        ({"from_number": "Shop!"}, "from_number", "alphanumeric sender ID"),
        ({"from_number": None, "messaging_service_sid": "PN" + "0" * 32}, "messaging_service_sid", "MG followed"),
        ({"from_number": None, "messaging_service_sid": "MG123"}, "messaging_service_sid", "32 hex digits"),
        ({"messaging_service_sid": SERVICE_SID}, "messaging_service_sid", "not both"),
        ({"from_number": None}, "from_number", "required"),
        ({"per_minute": 0}, "per_minute", "above 0"),
        ({"per_minute": -5}, "per_minute", "above 0"),
        ({"per_minute": "fast"}, "per_minute", "above 0"),
        ({"concurrency": 0}, "concurrency", "1 to 20"),
        ({"concurrency": 50}, "concurrency", "1 to 20"),
    ],
)
def test_it_refuses_a_bad_sender_or_pace_with_a_sentence_naming_the_field(client, auth, twilio, changes, field, words):
    found = problems(put(client, auth, twilio.settings(**changes)))
    assert list(found) == [field] and words in found[field]
    assert twilio.received == [], "nothing is verified before the settings are valid"


def test_it_gives_an_example_number_that_is_itself_valid():
    assert phonenumbers.is_valid_number(phonenumbers.parse(EXAMPLE_NUMBER))
    with pytest.raises(Exception) as bad:
        SmsChannel.validate_settings({"account_sid": "AC" + "0" * 32, "auth_token": "t", "from_number": "5"})
    reason = next(d["reason"] for d in bad.value.details if d["field"] == "from_number")  # type: ignore[attr-defined]
    assert EXAMPLE_NUMBER in reason


def test_it_sends_concurrent_requests_to_a_slow_provider(twilio, tmp_path):
    # Four sends at once over the channel's shared session against a provider that takes 0.3 s a request: the
    # provider sees them in flight together (its own count of open requests), each recipient once.
    twilio.request_delay_s = 0.3
    settings, secrets = SmsChannel.validate_settings(twilio.settings(concurrency=4))
    channel = SmsChannel(settings, secrets, ChannelContext(account_id=1, data_dir=tmp_path))
    sids: list[str] = []

    def send(i: int) -> None:
        message = OutboundMessage(id=i, account_id=1, channel="sms", recipient=f"+1555123000{i}", body="Hi")
        sids.append(channel.send(message))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    channel.close()
    assert len(set(sids)) == 4
    assert sorted(m["to"] for m in twilio.created()) == [f"+1555123000{i}" for i in range(4)]
    assert twilio.max_in_flight >= 2
