"""Every webhook checks its signature before it looks anything up (issue 21, item 9): a stranger who guesses
ids learns nothing, because an unknown id with a bad signature is a 403, exactly like a known one; only a
correctly signed request for an unknown id is told 404."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from backend.webhooks.communications import signature
from tests.fakes.twilio import FakeTwilio, twilio_signature

UNKNOWN_SID = "SM" + "7" * 32
STATUS_URL = "http://localhost/webhooks/twilio/status"
INBOUND_URL = "http://localhost/webhooks/twilio/inbound"


@pytest.fixture
def twilio(client: Any, auth: dict[str, str]) -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        assert client.put("/api/channels/sms", json=fake.settings(), headers=auth).status_code == 200
        yield fake


def _status_params(twilio: FakeTwilio, sid: str) -> dict[str, str]:
    return {"AccountSid": twilio.account_sid, "MessageSid": sid, "MessageStatus": "delivered", "From": "+1",
            "To": "+14155552671", "SmsSid": sid, "SmsStatus": "delivered", "ApiVersion": "2010-04-01"}  # fmt: skip


@pytest.mark.parametrize("signed_with", ["forged", "missing"])
def test_it_answers_403_not_404_to_a_twilio_status_for_an_unknown_sid_without_a_good_signature(
    client: Any, twilio: FakeTwilio, signed_with: str
) -> None:
    params = _status_params(twilio, UNKNOWN_SID)
    headers = {} if signed_with == "missing" else {"X-Twilio-Signature": twilio_signature("x" * 32, STATUS_URL, params)}
    answer = client.post("/webhooks/twilio/status", data=params, headers=headers)
    assert answer.status_code == 403 and answer.get_json()["error"] == "bad_signature"
    signed = {"X-Twilio-Signature": twilio_signature(twilio.auth_token, STATUS_URL, params)}
    assert client.post("/webhooks/twilio/status", data=params, headers=signed).status_code == 404


def test_it_answers_403_to_a_twilio_inbound_message_without_a_good_signature(client: Any, twilio: FakeTwilio) -> None:
    params = twilio.inbound_params("+14155550100", "hello")
    headers = {"X-Twilio-Signature": twilio_signature("x" * 32, INBOUND_URL, params)}
    answer = client.post("/webhooks/twilio/inbound", data=params, headers=headers)
    assert answer.status_code == 403 and answer.get_json()["error"] == "bad_signature"


def test_it_answers_403_not_404_to_a_communication_for_an_unknown_message_without_a_good_signature(
    client: Any, services: Any, auth: dict[str, str]
) -> None:
    with services.db.write() as session:
        secret = services.secrets.webhook_secret(session, 1)
    raw = json.dumps({"message_id": 987654, "provider": "p", "event_id": "e", "status": "delivered",
                      "success": True}).encode()  # fmt: skip
    headers = {"Content-Type": "application/json"}
    forged = client.post("/webhooks/communications", data=raw, headers={**headers, "X-Bulkmsg-Signature":
                         signature("not-the-secret", raw)})  # fmt: skip
    assert forged.status_code == 403 and forged.get_json()["error"] == "bad_signature"
    good = client.post("/webhooks/communications", data=raw, headers={**headers, "X-Bulkmsg-Signature":
                       signature(secret, raw)})  # fmt: skip
    assert good.status_code == 404


def test_it_answers_403_to_sendgrid_events_for_unknown_messages_without_a_good_signature(client: Any) -> None:
    events = [{"event": "bounce", "email": "a@example.org", "sg_event_id": "x", "bulkmsg_account": "1",
               "bulkmsg_message_id": "987654", "timestamp": 1}]  # fmt: skip
    headers = {"Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": "MEUCIQ==",
               "X-Twilio-Email-Event-Webhook-Timestamp": "0"}  # fmt: skip
    answer = client.post("/webhooks/sendgrid/events", data=json.dumps(events), headers=headers)
    assert answer.status_code == 403 and answer.get_json()["error"] == "bad_signature"
