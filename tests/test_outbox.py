"""The outbox statements of DESIGN section 5: atomic claims, fenced results, lost sends become uncertain."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import insert, select, text, update

from backend.accounts import get_or_create_account
from backend.dispatch.claims import claim_next, finish, mark_started
from backend.dispatch.recovery import recover_lost_sends
from backend.events.hub import EventHub
from backend.services import Services
from backend.store.migrate import upgrade
from backend.store.models import Campaign, Event, Message, utcnow


def _services(config, database_url):
    services = Services.build(config.replace(database_url=database_url))
    upgrade(services.db)
    return services


def _queue(services, n: int, campaign_id: int | None = None) -> int:
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
        past = utcnow() - timedelta(seconds=1)
        session.execute(
            insert(Message),
            [
                dict(
                    account_id=account_id,
                    channel="sms",
                    recipient=f"+1555{i:07d}",
                    body="hi",
                    sender_type="campaign" if campaign_id else "conversation",
                    sender_id=str(campaign_id or "c1"),
                    campaign_id=campaign_id,
                    status="queued",
                    next_attempt_at=past,
                    meta={},
                )
                for i in range(n)
            ],
        )
    return account_id


def _claim(services, account_id, owner, limit=1, lease_s=60.0):
    with services.db.write() as session:
        return claim_next(
            session, account_id=account_id, channel="sms", owner=owner, now=utcnow(), lease_s=lease_s, limit=limit
        )


def test_it_never_hands_one_message_to_two_workers(config, database_url) -> None:
    services = _services(config, database_url)
    account_id = _queue(services, 600)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            got = _claim(services, account_id, name, limit=7)
            if not got:
                return
            with lock:
                claimed.extend(m.id for m in got)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with services.db.read() as session:
        states = set(session.scalars(select(Message.status)))
        attempts = set(session.scalars(select(Message.attempts)))
    services.db.dispose()
    assert len(claimed) == 600 and len(set(claimed)) == 600
    assert states == {"sending"} and attempts == {1}


def test_it_drops_a_stale_workers_late_result(config, database_url) -> None:
    services = _services(config, database_url)
    account_id = _queue(services, 1)
    (first,) = _claim(services, account_id, "old-worker", lease_s=-1)  # its lease is already over
    with services.db.write() as session:
        assert mark_started(session, first.id, "old-worker", utcnow())  # its content went out
    assert recover_lost_sends(services) == 1  # the sweep takes it: uncertain
    with services.db.write() as session:
        assert finish(session, first.id, "old-worker", status="sent") is False
    with services.db.read() as session:
        message = session.get(Message, first.id)
        texts = list(session.scalars(select(Event.text)))
    services.db.dispose()
    assert message.status == "uncertain" and message.lease_owner is None
    assert any("Not sure whether +15550000000 got the message" in t for t in texts)


def test_it_queues_again_a_lost_claim_whose_send_never_started(config, database_url) -> None:
    # Another machine's claims expired: where the store records starts (PostgreSQL), one that never started goes
    # back to the queue with its attempt undone, and its stale owner can no longer start it; on SQLite (one
    # machine, whose send journal would have said) it stays uncertain.
    services = _services(config, database_url)
    account_id = _queue(services, 1)
    (first,) = _claim(services, account_id, "lost-machine", lease_s=-1)
    assert recover_lost_sends(services) == 1
    with services.db.write() as session:
        started = mark_started(session, first.id, "lost-machine", utcnow())
    with services.db.read() as session:
        message = session.get(Message, first.id)
    services.db.dispose()
    if services.db.dialect == "postgresql":
        assert (message.status, message.attempts, message.lease_owner) == ("queued", 0, None)
        assert started is False  # the lost machine, back, may not send it too
    else:
        assert message.status == "uncertain" and started is False


def test_it_writes_a_result_while_the_lease_is_ours(config, database_url) -> None:
    services = _services(config, database_url)
    account_id = _queue(services, 1)
    (message,) = _claim(services, account_id, "me")
    with services.db.write() as session:
        assert finish(session, message.id, "someone-else", status="sent") is False
        assert finish(session, message.id, "me", status="sent", provider_message_id="SM1") is True
    with services.db.read() as session:
        stored = session.get(Message, message.id)
    services.db.dispose()
    assert stored.status == "sent" and stored.provider_message_id == "SM1" and stored.lease_until is None


def test_it_leaves_live_leases_alone_when_recovering(config, database_url) -> None:
    services = _services(config, database_url)
    account_id = _queue(services, 2)
    _claim(services, account_id, "live-worker", limit=2, lease_s=300)
    assert recover_lost_sends(services) == 0
    services.db.dispose()


def test_it_takes_over_the_sends_of_a_dead_process_at_once(config, tmp_path) -> None:
    services = _services(config, f"sqlite:///{tmp_path / 'dead.sqlite3'}")
    account_id = _queue(services, 1)
    import socket
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_owner = f"{socket.gethostname()}:{int(dead.stdout)}:dispatch-1-sms"
    _claim(services, account_id, dead_owner, lease_s=3600)
    assert recover_lost_sends(services) == 1
    services.db.dispose()


def test_it_claims_nothing_from_a_paused_campaign(config, database_url) -> None:
    services = _services(config, database_url)
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
        campaign = Campaign(account_id=account_id, name="c", channel="sms", body="hi", status="paused")
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
    _queue(services, 3, campaign_id=campaign_id)
    assert _claim(services, account_id, "w", limit=10) == []
    with services.db.write() as session:
        session.get(Campaign, campaign_id).status = "running"
    assert len(_claim(services, account_id, "w", limit=10)) == 3
    services.db.dispose()


def test_it_pushes_events_only_after_commit(config, tmp_path) -> None:
    services = _services(config, f"sqlite:///{tmp_path / 'ev.sqlite3'}")
    hub: EventHub = services.hub
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
    hub.start()
    sub = hub.subscribe(account_id)
    try:
        with services.db.write() as session:
            hub.record(session, account_id, "send.progress", "rolled back")
            session.flush()
            session.rollback()
        hub.emit(account_id, "send.progress", "committed")
        item = sub.get(timeout=5)
        assert isinstance(item, tuple) and '"committed"' in item[1]
        assert sub.get(timeout=0.3) is None
    finally:
        hub.unsubscribe(sub)
        hub.stop()
        services.db.dispose()


def test_it_writes_a_batch_of_results_except_where_the_lease_was_lost(config, database_url) -> None:
    from backend.dispatch.hooks import NoHooks
    from backend.dispatch.outcomes import Outcome, record_results

    services = _services(config, database_url)
    account_id = _queue(services, 3)
    claimed = _claim(services, account_id, "me", limit=3)
    with services.db.write() as session:  # another worker took the second one over meanwhile
        session.execute(update(Message).where(Message.id == claimed[1].id).values(lease_owner="someone-else"))
    results = [
        (claimed[0], Outcome("sent", provider_message_id="SM0")),
        (claimed[1], Outcome("sent", provider_message_id="SM1")),
        (claimed[2], Outcome("failed", error="21211 invalid number")),
    ]
    with services.db.write() as session:
        assert record_results(services, session, "me", NoHooks(), results) == 2
    with services.db.read() as session:
        rows = {m.id: (m.status, m.provider_message_id, m.lease_owner) for m in session.scalars(select(Message))}
        texts = list(session.scalars(select(Event.text).order_by(Event.id)))
    services.db.dispose()
    assert rows[claimed[0].id] == ("sent", "SM0", None)
    assert rows[claimed[1].id] == ("sending", None, "someone-else")  # untouched: not ours any more
    assert rows[claimed[2].id] == ("failed", None, None)
    assert texts == ["Sent to +15550000000", "Failed to send to +15550000002: 21211 invalid number"]


def _campaign(services, account_id: int, status: str, n: int, channel: str = "sms") -> int:
    with services.db.write() as session:
        campaign = Campaign(account_id=account_id, name=status, channel=channel, body="hi", status=status, total=n)
        session.add(campaign)
        session.flush()
        campaign_id = campaign.id
    _queue(services, n, campaign_id=campaign_id)
    return campaign_id


def _plan(services, queue: str) -> str:
    """The database's plan for one of the claim statements, as text."""
    from backend.dispatch.claims import _claim_statement, _prepared

    engine = services.db.write_engine
    compiled = _prepared(_claim_statement(engine.dialect.name, queue))._for(engine.dialect)
    values = {"p_account_id": 1, "p_channel": "sms", "p_campaign_id": 1, "p_limit": 64, "p_owner": "w"}
    params = compiled.parameters({**values, "p_now": utcnow(), "p_lease_until": utcnow()})
    with engine.connect() as connection:
        cursor = connection.connection.driver_connection.cursor()
        cursor.execute(("EXPLAIN QUERY PLAN " if services.db.is_sqlite else "EXPLAIN ") + compiled.sql, params)
        return "\n".join(str(row[-1] if services.db.is_sqlite else row[0]) for row in cursor.fetchall())


def test_it_claims_through_the_queue_indexes_past_a_big_draft(config, database_url) -> None:
    services = _services(config, database_url)
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
    _campaign(services, account_id, "draft", 3000)  # queued first, ahead of everything
    running = _campaign(services, account_id, "running", 5)
    if not services.db.is_sqlite:
        with services.db.write() as session:
            session.execute(text("ANALYZE messages"))
    got = _claim(services, account_id, "w", limit=64)
    plans = {queue: _plan(services, queue) for queue in ("conversation", "campaign")}
    services.db.dispose()
    assert {m.campaign_id for m in got} == {running} and len(got) == 5
    # Each claim is a seek of its own queue's index, in claim order: it never reads the draft's 3,000 nor sorts.
    # (PostgreSQL may still hash-join the few claimed ids back to a table this small; the claim's reading is
    # the `due` part.)
    assert "ix_messages_claim_conversation" in plans["conversation"]
    assert "ix_messages_claim_campaign" in plans["campaign"]
    for plan in plans.values():
        assert "Sort" not in plan, plan
        assert "SCAN messages" not in plan, plan  # SQLite's words for reading the whole table


def test_it_lets_running_campaigns_take_turns(config, database_url) -> None:
    services = _services(config, database_url)
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
    first, second = _campaign(services, account_id, "running", 10), _campaign(services, account_id, "running", 10)
    taken = []
    last = None
    for _ in range(4):
        with services.db.write() as session:
            batch = claim_next(
                session,
                account_id=account_id,
                channel="sms",
                owner="w",
                now=utcnow(),
                lease_s=60,
                limit=3,
                after_campaign=last,
            )
        last = batch[0].campaign_id
        taken.append({m.campaign_id for m in batch})
    services.db.dispose()
    assert taken == [{first}, {second}, {first}, {second}]
