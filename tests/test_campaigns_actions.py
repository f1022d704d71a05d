"""What a user does to a running campaign, against a real aiosmtpd server and the real dispatcher: pause,
resume, cancel, schedule, retry failed, re-queue uncertain, and the live counts, rate and ETA while it runs."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from backend.store.models import Message, utcnow
from tests.campaign_helpers import add_contacts, event_texts, wait_status
from tests.helpers import wait_for

#: a slow, steady pace: a message every 0.15 s, so a test can act between two messages.
SLOW = {"min_delay_s": 0.15, "max_delay_s": 0.15}


def create(client: Any, auth: dict[str, str], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Spring news",
        "channel": "smtp",
        "subject": "News for {{ first_name }}",
        "body": "Hello {{ name }}",
        "recipients": {"all": True},
    }
    body.update(changes)
    answer = client.post("/api/campaigns", json=body, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    return dict(answer.get_json())


def act(client: Any, auth: dict[str, str], campaign_id: int, action: str, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/api/campaigns/{campaign_id}/{action}", json=body or None, headers=auth)
    assert answer.status_code == 200, answer.get_json()
    return dict(answer.get_json())


def view(client: Any, auth: dict[str, str], campaign_id: int) -> dict[str, Any]:
    return dict(client.get(f"/api/campaigns/{campaign_id}", headers=auth).get_json())


def test_it_pauses_before_the_next_message_and_resumes_where_it_stopped(client, auth, services, smtp, account, running):
    add_contacts(services, account, 12)
    campaign = create(client, auth, rate=SLOW)
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: smtp.count >= 3, timeout=20, what="three messages")

    paused = act(client, auth, campaign["id"], "pause")
    assert paused["status"] == "paused" and paused["status_reason"] == "paused by you"
    at_pause = smtp.count
    time.sleep(0.6)  # four paced sends' worth: none may start after the pause
    assert smtp.count <= at_pause + 1  # at most the one already claimed when the pause landed
    counts = view(client, auth, campaign["id"])["counts"]
    assert counts["sent"] == smtp.count and counts["queued"] == 12 - smtp.count and counts["sending"] == 0

    act(client, auth, campaign["id"], "resume")
    done = wait_status(client, auth, campaign["id"], "completed")
    assert done["counts"]["sent"] == 12 and sorted(smtp.arrivals().values()) == [1] * 12
    texts = event_texts(services, account, "campaign.status")
    assert "Campaign paused: paused by you" in texts
    assert texts[-1] == "Mass messaging complete. Sent: 12, Failed: 0"
    assert f"Sending messages to {12 - counts['sent']} contacts..." in texts


def test_it_cancels_before_the_next_message_and_never_sends_the_rest(client, auth, services, smtp, account, running):
    add_contacts(services, account, 10)
    campaign = create(client, auth, rate=SLOW)
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: smtp.count >= 2, timeout=20, what="two messages")

    cancelled = act(client, auth, campaign["id"], "cancel")
    at_cancel = smtp.count
    time.sleep(0.6)
    assert smtp.count <= at_cancel + 1
    final = view(client, auth, campaign["id"])
    assert cancelled["status"] == final["status"] == "cancelled"
    assert final["counts"]["queued"] == 0 and final["counts"]["sent"] == smtp.count
    listed = client.get(f"/api/campaigns/{campaign['id']}/messages?status=cancelled", headers=auth).get_json()
    assert listed["total"] == 10 - smtp.count
    assert event_texts(services, account, "campaign.status")[-1].startswith("Campaign cancelled. Sent: ")


def test_it_starts_a_scheduled_campaign_when_it_is_due(client, auth, services, smtp, account, running):
    add_contacts(services, account, 3)
    when = (utcnow() + timedelta(seconds=1)).isoformat()
    campaign = create(client, auth)
    scheduled = act(client, auth, campaign["id"], "start", scheduled_at=when)
    assert scheduled["status"] == "scheduled" and smtp.count == 0

    done = wait_status(client, auth, campaign["id"], "completed", timeout=20)
    assert done["counts"]["sent"] == 3 and smtp.count == 3
    assert done["started_at"] >= when.replace("+00:00", "")[:19]


def test_it_retries_failed_and_requeues_uncertain_messages_on_request(client, auth, services, smtp, account, running):
    add_contacts(services, account, 4)
    smtp.refuse("person1@example.org", "550 5.1.1 No such user")
    smtp.drop_during_data("person2@example.org")
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")
    done = wait_status(client, auth, campaign["id"], "completed")
    assert (done["counts"]["sent"], done["counts"]["failed"], done["counts"]["uncertain"]) == (2, 1, 1)
    assert event_texts(services, account, "campaign.status")[-1] == (
        "Mass messaging complete. Sent: 2, Failed: 1. Completed with 1 of 4 failed and 1 of 4 uncertain"
    )
    progress = event_texts(services, account, "send.progress")
    assert "Failed to send to person1@example.org: 550 5.1.1 No such user" in progress
    assert any(t.startswith("Not sure whether person2@example.org got the message") for t in progress)
    assert smtp.arrivals() == {"person0@example.org": 1, "person3@example.org": 1}  # uncertain: never re-sent

    smtp.handler.refuse.clear()
    smtp.handler.drop_data_for.clear()
    retried = act(client, auth, campaign["id"], "retry-failed")
    # A 550 is a hard bounce: never offered for retry (tests/test_campaign_endings.py retries exhausted ones).
    assert (retried["requeued"], retried["not_retryable"]) == (0, 1)
    requeued = act(client, auth, campaign["id"], "requeue-uncertain")
    assert requeued["requeued"] == 1
    done = wait_status(client, auth, campaign["id"], "completed")
    assert (done["counts"]["sent"], done["counts"]["failed"], done["counts"]["uncertain"]) == (3, 1, 0)
    assert "person1@example.org" not in smtp.arrivals() and smtp.arrivals()["person2@example.org"] == 1


def test_it_shows_right_counts_rate_and_eta_while_it_runs(client, auth, services, smtp, account, running):
    add_contacts(services, account, 30)
    campaign = create(client, auth, rate={"min_delay_s": 0.1, "max_delay_s": 0.1})
    act(client, auth, campaign["id"], "start")
    seen = 0
    while True:
        current = view(client, auth, campaign["id"])
        counts = current["counts"]
        arrived = smtp.count
        if current["status"] == "completed":
            break
        assert sum(counts[k] for k in ("queued", "sending", "sent", "failed", "uncertain")) == 30
        assert counts["sending"] <= 1
        assert (
            arrived - 1 <= counts["sent"] <= arrived + 1
        )  # the store and the server agree, give or take the one in flight
        if counts["sent"] >= 3:
            seen += 1
            # A message every 0.1 s is 600 a minute: the rate is measured over the seconds the campaign has run,
            # not spread over a whole minute (which would say 12/min at the twelfth message, and an ETA far off).
            # The lower bound leaves room for a slow, shared machine (a message every 0.5 s).
            assert current["rate_per_min"] <= 660
            if counts["sent"] >= 12:
                assert current["rate_per_min"] >= 120
            remaining = counts["queued"] + counts["sending"]
            assert current["eta_s"] == pytest.approx(remaining / current["rate_per_min"] * 60, abs=0.11)
        time.sleep(0.2)
    assert seen >= 3, "never looked mid-run"
    assert current["counts"]["sent"] == 30 and current["eta_s"] == 0.0


def test_it_pauses_itself_after_errors_in_a_row_and_says_why(client, auth, services, smtp, account, running):
    add_contacts(services, account, 8)
    for i in range(8):
        smtp.refuse(f"person{i}@example.org", "554 5.7.1 Rejected")
    campaign = create(client, auth, rate={"max_consecutive_errors": 3})
    act(client, auth, campaign["id"], "start")
    wait_status(client, auth, campaign["id"], "paused")
    # With 4 connections (the default) up to 4 messages are out before the first answer: they end too (recorded
    # with the pause or just after it). After an error the campaign sends one message at a time, so it cannot run
    # past its limit by more than that first wave; no message starts after the pause.
    paused = wait_for(
        lambda: (v := view(client, auth, campaign["id"]))["counts"]["sending"] == 0 and v, what="the sends in flight"
    )
    failed = paused["counts"]["failed"]
    assert 3 <= failed <= 4 and paused["counts"]["queued"] == 8 - failed
    counted = int(paused["status_reason"].split()[0])
    assert 3 <= counted <= failed
    assert paused["status_reason"] == f"{counted} errors in a row; the last one: 554 5.7.1 Rejected"
    assert f"Campaign paused: {paused['status_reason']}" in event_texts(services, account, "campaign.status")


def test_it_retries_a_4xx_answer_with_backoff_then_sends_it(client, auth, services, smtp, account, running):
    add_contacts(services, account, 2)
    smtp.refuse("person0@example.org", "451 4.3.0 Try again later", times=1)
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: smtp.arrivals().get("person1@example.org") == 1, what="the other message")

    def held_row() -> Message:
        with services.db.read() as session:
            return session.query(Message).filter_by(recipient="person0@example.org").one()

    # With several connections the other message may arrive before this one's 451 answer is recorded.
    wait_for(lambda: held_row().status != "sending", what="the refused message's answer recorded")
    held = held_row()
    assert (held.status, held.attempts) == ("queued", 1)
    assert 3 < (held.next_attempt_at - held.updated_at).total_seconds() <= 6  # 5 s for a first retry
    assert "Will retry person0@example.org: 451 4.3.0 Try again later" in " ".join(
        event_texts(services, account, "send.progress")
    )
    with services.db.write() as session:  # skip the wait
        session.execute(update(Message).where(Message.id == held.id).values(next_attempt_at=utcnow()))
    services.dispatchers.wake(account, "smtp")
    done = wait_status(client, auth, campaign["id"], "completed")
    assert done["counts"]["sent"] == 2 and smtp.arrivals()["person0@example.org"] == 1
