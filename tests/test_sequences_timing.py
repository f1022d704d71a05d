"""Sequences with the campaign's timing (issue 30 with DESIGN section 16): a step outside the recipient's quiet
hours waits for the window without using an attempt; a step whose email hard-bounces falls back to one SMS, and
that SMS counts as the step sent (the next step is due a full wait after it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from backend.dispatch.claims import claim_next
from backend.store.models import Message
from tests.campaign_helpers import configure_smtp
from tests.fakes.twilio import FakeTwilio
from tests.helpers import wait_for
from tests.sequence_support import DAY, create_sequence, enrol, enrolments, run_engine, start
from tests.timing_support import Clock, add_people, configure_sms, phones


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio() as fake:
        yield fake


def test_it_keeps_a_due_step_queued_until_the_recipients_window_opens(client, auth, services, twilio):
    clock = services.clock = Clock(datetime(2027, 1, 4, 0, 0, tzinfo=UTC))  # 05:30 in Kolkata, a Monday
    account = configure_sms(services, twilio)
    add_people(services, account, [{**phones(1)[0], "timezone": "Asia/Kolkata"}])
    window = {"days": ["mon", "tue"], "start": "09:00", "end": "17:00", "timezone": "recipient"}
    sequence = create_sequence(client, auth, send_window=window)
    start(client, auth, sequence["id"])
    enrol(client, auth, sequence["id"], filter={"field": "has.phone", "op": "is", "value": True})
    assert run_engine(services) == 1
    with services.db.write() as session:
        claimed = claim_next(
            session, account_id=account, channel="sms", owner="t", now=datetime.now(UTC), lease_s=60, limit=5
        )
        assert len(claimed) == 1
        assert services.hooks.trim_batch(session, claimed) == []  # outside 09:00-17:00 in Kolkata: put back
    with services.db.read() as session:
        status, attempts, due = session.execute(select(Message.status, Message.attempts, Message.next_attempt_at)).one()
    assert (status, attempts, due) == ("queued", 0, datetime(2027, 1, 4, 3, 30, tzinfo=UTC))
    assert clock.now < due


def test_a_bounced_step_falls_back_to_one_sms_that_counts_as_the_step(client, auth, services, smtp, twilio, running):
    services.clock = Clock(datetime.now(UTC))
    account = configure_smtp(services, smtp.settings())
    configure_sms(services, twilio)
    add_people(services, account, [{"name": "Bo", "phone": "+14155550102", "email": "bo@example.org"}])
    smtp.refuse("bo@example.org", "550 5.1.1 No such user")
    steps = [
        {"wait_s": 0, "subject": "Welcome", "body": "Hello {{ name }}"},
        {"wait_s": 3 * DAY, "subject": "Again", "body": "Hello again {{ name }}"},
    ]
    fallback = [{"channel": "sms", "on": ["hard_bounce", "invalid_address"]}]
    sequence = create_sequence(client, auth, channel="smtp", steps=steps, fallback=fallback)
    start(client, auth, sequence["id"])
    assert (
        enrol(client, auth, sequence["id"], filter={"field": "has.email", "op": "is", "value": True})["enrolled"] == 1
    )
    (bo,) = enrolments(services)
    sent_at = services.clock.now
    assert run_engine(services) == 1
    wait_for(lambda: [m["body"] for m in twilio.created()] == ["Hello Bo"], what="the SMS fallback", timeout=30)
    wait_for(lambda: enrolments(services)[bo] == ("active", 1, None), what="the step counted as sent", timeout=30)
    with services.db.read() as session:
        from backend.store.models.sequences import SequenceEnrollment

        due = session.scalar(select(SequenceEnrollment.next_at))
    assert due == sent_at + timedelta(days=3)
