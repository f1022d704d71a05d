"""Provider event ids are unique per account (issue 14, item 5): account B, with its own webhook secret, posts an
event id equal to account A's next Twilio callback; A's genuine callback is still recorded and settles A's
message. Twilio's callback shape and signature: tests/fakes/twilio/ (Twilio's documented status callback)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from backend.store.models import Communication
from tests.delivery_support import add_sent, signed
from tests.fakes.twilio import FakeTwilio
from tests.test_twilio_webhook import callback, sent_sms


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def test_it_keeps_one_accounts_event_ids_from_blocking_anothers_twilio_callback(
    client: Any, auth: dict[str, str], services: Any, twilio: FakeTwilio
) -> None:
    message_a, sid = sent_sms(client, auth, services, twilio)
    services.account_token("intruder")
    (message_b,) = add_sent(services, account_id=2)
    with services.db.write() as session:
        secret_b = str(services.secrets.webhook_secret(session, 2))
    forged = {"message_id": message_b, "provider": "twilio", "event_id": f"{sid}:delivered", "status": "delivered",
              "success": True}  # fmt: skip
    raw, headers = signed(secret_b, forged)
    assert client.post("/webhooks/communications", data=raw, headers=headers).status_code == 200

    genuine = callback(client, twilio, sid, "delivered")
    assert genuine.status_code == 204, genuine.get_json()
    assert callback(client, twilio, sid, "delivered").status_code == 409  # a real replay is still applied once
    with services.db.read() as session:
        rows = session.execute(
            select(Communication.account_id, Communication.message_id).where(
                Communication.provider_event_id == f"{sid}:delivered"
            )
        ).all()
    assert sorted(rows) == [(1, message_a), (2, message_b)]
