"""The dispatcher's batches, against a real aiosmtpd server: an unpaced campaign goes out in batches, yet a pause
or a cancel still acts before the next message, every message is counted once, a paced campaign keeps its pace
beside an unpaced one, and a stop gives back what was claimed but not started."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, select

from backend.dispatch.journal import journal_dir
from backend.runtime import Runtime
from backend.store.models import Contact, Event, Message
from tests.campaign_helpers import add_contacts, event_texts, wait_status
from tests.helpers import wait_for
from tests.test_campaigns_actions import act, create

FAST = 1500


def statuses(services: Any, campaign_id: int) -> dict[str, int]:
    with services.db.read() as session:
        rows = session.execute(
            select(Message.status, func.count()).where(Message.campaign_id == campaign_id).group_by(Message.status)
        ).all()
    return dict(rows)  # type: ignore[arg-type]


def test_it_pauses_a_fast_campaign_before_the_next_message(client, auth, services, smtp, account, running):
    add_contacts(services, account, FAST)
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: smtp.count >= 100, timeout=30, what="a hundred messages")
    view = client.get(f"/api/campaigns/{campaign['id']}", headers=auth).get_json()
    # Seconds into the campaign: its rate is what it sent over those seconds, far more than its count a minute.
    assert view["rate_per_min"] > 5 * view["counts"]["sent"] > 0
    assert view["eta_s"] < 60

    act(client, auth, campaign["id"], "pause")
    at_pause = smtp.count
    time.sleep(0.5)
    assert smtp.count <= at_pause + 4, "sent on after the pause"  # at most those in flight (4 connections)
    counts = statuses(services, campaign["id"])
    assert counts.get("sending", 0) == 0 and counts["sent"] == smtp.count < FAST
    assert counts["queued"] == FAST - smtp.count  # what was claimed but not started went back

    act(client, auth, campaign["id"], "resume")
    wait_status(client, auth, campaign["id"], "completed", timeout=60)
    assert sorted(set(smtp.arrivals().values())) == [1] and len(smtp.arrivals()) == FAST


def test_it_cancels_a_fast_campaign_before_the_next_message(client, auth, services, smtp, account, running):
    add_contacts(services, account, FAST)
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: smtp.count >= 100, timeout=30, what="a hundred messages")

    act(client, auth, campaign["id"], "cancel")
    at_cancel = smtp.count
    time.sleep(0.5)
    assert smtp.count <= at_cancel + 4  # at most those in flight (4 connections)
    counts = statuses(services, campaign["id"])
    assert counts == {"sent": smtp.count, "cancelled": FAST - smtp.count}
    view = client.get(f"/api/campaigns/{campaign['id']}", headers=auth).get_json()
    assert view["status"] == "cancelled" and view["counts"]["queued"] == view["counts"]["sending"] == 0


def test_it_counts_every_message_of_a_batch_once(client, auth, services, smtp, account, running):
    add_contacts(services, account, 400)
    smtp.refuse("person150@example.org", "550 5.1.1 No such user")
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")
    done = wait_status(client, auth, campaign["id"], "completed", timeout=60)
    assert (done["counts"]["sent"], done["counts"]["failed"]) == (399, 1)

    with services.db.read() as session:
        events = session.execute(
            select(Event.type, Event.text, Event.data).where(Event.account_id == account).order_by(Event.id)
        ).all()
    progress = [data for type_, _, data in events if type_ == "send.progress"]
    assert sorted(p["current"] for p in progress) == list(range(1, 401))
    assert {p["total"] for p in progress} == {400}
    assert len({p["message_id"] for p in progress}) == 400
    texts = [text for _, text, _ in events]
    assert texts.index("Mass messaging complete. Sent: 399, Failed: 1. Completed with 1 of 400 failed") > max(
        i for i, text in enumerate(texts) if text.startswith("Sent to ")
    )


def test_it_keeps_a_paced_campaigns_pace_beside_an_unpaced_one(client, auth, services, smtp, account, running):
    add_contacts(services, account, 604)
    with services.db.read() as session:
        ids = dict(session.execute(select(Contact.email, Contact.id)).all())
    slow_people = [f"person{i}@example.org" for i in range(600, 604)]
    fast = create(
        client, auth, name="fast", recipients={"contact_ids": [ids[f"person{i}@example.org"] for i in range(600)]}
    )
    slow = create(
        client, auth, name="slow", recipients={"contact_ids": [ids[e] for e in slow_people]}, rate={"min_delay_s": 0.3}
    )
    act(client, auth, fast["id"], "start")
    act(client, auth, slow["id"], "start")
    wait_status(client, auth, slow["id"], "completed", timeout=30)
    wait_status(client, auth, fast["id"], "completed", timeout=60)

    slow_arrivals = sorted(
        r.at for r in smtp.received if r.rcpt_tos[0] in {f"person{i}@example.org" for i in range(600, 604)}
    )
    assert len(slow_arrivals) == 4
    gaps = [b - a for a, b in zip(slow_arrivals, slow_arrivals[1:], strict=False)]
    assert min(gaps) >= 0.25, gaps  # its 0.3 s delay, give or take a send's own time
    assert len(smtp.arrivals()) == 604 and set(smtp.arrivals().values()) == {1}


def test_it_gives_back_what_it_holds_when_it_stops(app, client, auth, services, smtp, account, running):
    add_contacts(services, account, FAST)
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: smtp.count >= 100, timeout=30, what="a hundred messages")

    running.stop()
    counts = statuses(services, campaign["id"])
    assert counts.get("sending", 0) == 0 and counts["sent"] == smtp.count < FAST
    with services.db.read() as session:
        attempts = set(session.scalars(select(Message.attempts).where(Message.status == "queued")))
    assert attempts == {0}  # a claim given back is not an attempt
    assert list(journal_dir(services.config.data_dir).iterdir()) == []  # nothing in flight, nothing to recover

    again = Runtime(app)
    again.start()
    try:
        wait_status(client, auth, campaign["id"], "completed", timeout=60)
    finally:
        again.stop()
    assert sorted(set(smtp.arrivals().values())) == [1] and len(smtp.arrivals()) == FAST
    assert event_texts(services, account, "campaign.status")[-1] == f"Mass messaging complete. Sent: {FAST}, Failed: 0"


def test_it_sends_nothing_without_its_journal_and_loses_nothing(client, auth, services, smtp, account, caplog):
    blocker = journal_dir(services.config.data_dir)
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory")  # the journal cannot be created here
    add_contacts(services, account, 20)
    campaign = create(client, auth)
    runtime = Runtime(client.application)
    runtime.start()
    try:
        act(client, auth, campaign["id"], "start")
        wait_for(lambda: "cannot open its send journal" in caplog.text, timeout=10, what="the journal error")
        time.sleep(0.3)
        assert smtp.count == 0 and statuses(services, campaign["id"]) == {"queued": 20}

        blocker.unlink()
        services.dispatchers.sync()  # what the every-5-seconds job does
        wait_status(client, auth, campaign["id"], "completed", timeout=30)
    finally:
        runtime.stop()
    assert len(smtp.arrivals()) == 20 and set(smtp.arrivals().values()) == {1}


def test_it_sends_a_support_reply_before_the_rest_of_a_running_campaign(client, auth, services, smtp, account, running):
    add_contacts(services, account, FAST)
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: smtp.count >= 100, timeout=30, what="a hundred messages")

    reply = {"source": "email", "to": "customer@example.net", "subject": "Your order", "body": "It ships today."}
    answer = client.post("/api/conversations/ticket-7/messages", json=reply, headers=auth)
    assert answer.status_code == 201, answer.get_json()
    at_reply = smtp.count
    wait_for(lambda: "customer@example.net" in smtp.arrivals(), timeout=10, what="the reply")
    position = next(i for i, r in enumerate(smtp.received) if r.rcpt_tos == ["customer@example.net"])
    # One batch at most goes first (the one held when the reply was queued), not the campaign's remaining 1,400.
    assert position <= at_reply + 64, (position, at_reply)
    wait_status(client, auth, campaign["id"], "completed", timeout=60)
