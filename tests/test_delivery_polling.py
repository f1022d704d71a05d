"""Step 4: the job asks the provider (a real local Twilio-compatible server) about messages no callback settled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from backend.jobs.delivery.status import DeliveryStatusJob
from backend.store.models import Message
from tests.delivery_support import Clock, add_sent, count, message, updated_events
from tests.fakes.twilio import FakeTwilio


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def sent_sms(
    client: Any, auth: Any, services: Any, twilio: FakeTwilio, clock: Clock, **settings: Any
) -> tuple[int, str]:
    assert client.put("/api/channels/sms", json=twilio.settings(**settings), headers=auth).status_code == 200
    sid = twilio.add_message("+14155552671", "Your code is 1234", None)
    (message_id,) = add_sent(services, channel="sms", at=clock.now)
    with services.db.write() as session:
        session.execute(update(Message).where(Message.id == message_id).values(provider_message_id=sid))
    return message_id, sid


def fetches(twilio: FakeTwilio, sid: str) -> int:
    return len([r for r in twilio.received if r.method == "GET" and sid in r.path])


def test_it_asks_the_provider_at_each_check_until_the_status_is_final(
    client: Any, auth: Any, services: Any, twilio: FakeTwilio
) -> None:
    clock = Clock()
    message_id, sid = sent_sms(client, auth, services, twilio, clock)
    job = DeliveryStatusJob(services, clock=clock)

    first = job.run_once()  # Twilio still says "queued": recorded, not final
    twilio.deliver(sid, "delivered")  # no StatusCallback: nobody is called back
    clock.advance(1)
    second = job.run_once()

    assert (first["polled"], first["not_final"]) == (1, 1)
    assert (second["polled"], second["delivered"]) == (1, 1)
    assert fetches(twilio, sid) == 2
    row = message(services, message_id)
    assert row.delivered is True and row.meta["communication_id"] is not None
    assert count(services, "SELECT count(*) FROM communications") == 2  # queued, delivered
    assert updated_events(services)[-1]["delivery"] == "delivered"


def test_it_stops_asking_once_callbacks_arrive_for_a_channel_that_gets_them(
    client: Any, auth: Any, services: Any, twilio: FakeTwilio
) -> None:
    clock = Clock()
    message_id, sid = sent_sms(client, auth, services, twilio, clock, public_url="https://bulk.example.org")
    job = DeliveryStatusJob(services, clock=clock)

    job.run_once()  # no report at all yet: asked once (a lost callback must not leave it unknown)
    clock.advance(1)
    second = job.run_once()  # a report exists and callbacks reach us: wait for them

    assert second["polled"] == 0 and second["not_final"] == 1
    assert fetches(twilio, sid) == 1
    assert message(services, message_id).delivered is None
