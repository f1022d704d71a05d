"""Delivery-status job: one sweep over 100,000 due messages, and an idle sweep over 1,000,000 settled ones.

Sweep: 100,000 sent messages, 98% with a final communication (1 in 20 of those a failure), all due. One
`DeliveryStatusJob.run_once()` must settle them all (and give the other 2% their next check) in under 5 s, on
SQLite and on PostgreSQL. Baseline, in the same run and on the same data: the original per-message algorithm
(for each message: one query for its communication, one update, one event, one transaction). The baseline runs
on the first BASELINE_SAMPLE messages and is scaled to 100,000 (each message costs the same: it is one
independent transaction), so the whole benchmark takes about a minute instead of many.

Idle: a store of 1,000,000 settled messages (and their communications); a sweep with nothing due must cost
under 10 ms (one indexed probe on one round trip). Baseline: the same claim probe with the partial index out of
play (a table scan); beside it, a bare `SELECT 1` round trip at the same moment (the machine's floor).

Run: .venv/bin/python bench/delivery_job.py   (PostgreSQL: BULKMSG_TEST_DATABASE_URL or the local default)
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any

from _common import (
    analyze,
    insert_final_communications,
    insert_sent_messages,
    note,
    note_load,
    pg_base_url,
    result,
    store,
)
from sqlalchemy import func, select, text

from backend.jobs.delivery.status import CommunicationCursor, DeliveryStatusJob
from backend.store.models import Communication, Message, utcnow
from backend.views import message_view

BENCH = "delivery_job"
SWEEP_MESSAGES = 100_000
BASELINE_SAMPLE = {"sqlite": 10_000, "postgresql": 5_000}
IDLE_MESSAGES = 1_000_000
IDLE_RUNS = 50


def baseline_per_message(services: Any, limit: int) -> float:
    """The original algorithm on the first `limit` due messages; returns seconds taken."""
    db, hub = services.db, services.hub
    started = time.perf_counter()
    with db.read() as session:
        pending = list(
            session.scalars(
                select(Message)
                .where(Message.status == "sent", Message.delivered.is_(None), Message.delivery_expired.is_(False))
                .order_by(Message.id)
                .limit(limit)
            )
        )
    for message in pending:
        with db.write() as session:
            message = session.merge(message, load=False)
            comm = session.execute(
                select(Communication.id, Communication.success, Communication.received_at)
                .where(Communication.message_id == message.id, Communication.success.is_not(None))
                .order_by(Communication.id)
                .limit(1)
            ).first()
            now = utcnow()
            if comm is not None:
                message.delivered = comm.success
                message.delivered_at = comm.received_at if comm.success else None
                message.meta = {**(message.meta or {}), "communication_id": comm.id}
            else:
                message.delivery_check_attempts += 1
                message.delivery_next_check_at = now + timedelta(seconds=2 ** (message.delivery_check_attempts - 1))
            message.updated_at = now
            session.flush()
            if comm is not None:
                hub.record(session, message.account_id, "message.updated", "", data={"message": message_view(message)})
    return time.perf_counter() - started


def sweep(kind: str, pg_url: str | None) -> None:
    at = utcnow() - timedelta(seconds=1)
    with store(kind, pg_url) as services:
        insert_sent_messages(services, SWEEP_MESSAGES, at=at)
        insert_final_communications(services, at=at)
        job = DeliveryStatusJob(services)
        done = job.run_once()
        with services.db.read() as session:
            settled = session.scalar(select(func.count()).where(Message.delivered.is_not(None)))
            leased = session.scalar(select(func.count()).where(Message.delivery_lease_owner.is_not(None)))
        assert settled == SWEEP_MESSAGES * 49 // 50, settled
        assert leased == 0 and done["not_final"] == SWEEP_MESSAGES // 50, done
        sweep_s = done["duration_ms"] / 1000
    with store(kind, pg_url) as services:
        insert_sent_messages(services, SWEEP_MESSAGES, at=at)
        insert_final_communications(services, at=at)
        sample = BASELINE_SAMPLE[kind]
        baseline_s = baseline_per_message(services, sample) * SWEEP_MESSAGES / sample
    note(f"{kind}: sweep {done}; baseline measured on {sample} messages and scaled to {SWEEP_MESSAGES}")
    result(
        BENCH, f"{kind}_sweep_100k_settle", round(sweep_s, 3), "s", round(baseline_s, 2), round(baseline_s / sweep_s, 1)
    )
    result(
        BENCH,
        f"{kind}_sweep_100k_rate",
        round(SWEEP_MESSAGES / sweep_s),
        "messages/s",
        round(SWEEP_MESSAGES / baseline_s),
        round(baseline_s / sweep_s, 1),
    )


def idle(kind: str, pg_url: str | None) -> None:
    at = utcnow() - timedelta(hours=1)
    with store(kind, pg_url) as services:
        started = time.perf_counter()
        insert_sent_messages(services, IDLE_MESSAGES, at=at, delivered=True)
        insert_final_communications(services, at=at, every_nth_missing=None)
        analyze(services)
        note(f"{kind}: built {IDLE_MESSAGES} settled messages in {time.perf_counter() - started:.1f} s")
        job = DeliveryStatusJob(services)
        first = job.run_once()  # a process's first run looks at every communication once
        # From here on the job is in its steady state: the cursor has seen every communication long ago.
        with services.db.read() as session:
            top = session.scalar(select(func.max(Communication.id))) or 0
        # A fresh cursor that saw the newest communication an hour ago (observing it again on the job's own
        # cursor would be ignored: that id was already seen, seconds ago, and recent ids are looked at again).
        job.cursor = CommunicationCursor()
        job.cursor.observe(time.monotonic() - 3600, top)
        runs = []
        for _ in range(IDLE_RUNS):
            done = job.run_once()
            assert done["claimed"] == 0, done
            runs.append(done["duration_ms"])
        baseline = full_scan_probe_ms(services)
        round_trip = round_trip_ms(services)
        job.stop()
    idle_ms = statistics.median(runs)
    result(
        BENCH,
        f"{kind}_idle_sweep_1m_settled",
        round(idle_ms, 3),
        "ms",
        round(baseline, 2),
        round(baseline / idle_ms, 1),
    )
    result(BENCH, f"{kind}_idle_sweep_1m_settled_p95", round(sorted(runs)[int(IDLE_RUNS * 0.95) - 1], 3), "ms")
    result(BENCH, f"{kind}_first_sweep_after_start_1m", round(first["duration_ms"], 1), "ms")
    result(BENCH, f"{kind}_select_1_round_trip", round(round_trip, 3), "ms")


def round_trip_ms(services: Any) -> float:
    """A bare `SELECT 1` on a connection already open (median of IDLE_RUNS): the floor the machine's load puts
    under any idle sweep, printed beside it."""
    runs = []
    with services.db.read_engine.connect() as connection:
        for _ in range(IDLE_RUNS):
            started = time.perf_counter()
            connection.execute(text("SELECT 1")).all()
            runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def full_scan_probe_ms(services: Any) -> float:
    """The due-message probe without the partial index: what every idle sweep would cost without it."""
    runs = []
    sqlite = services.db.dialect == "sqlite"
    probe = (
        "SELECT id FROM messages NOT INDEXED WHERE status = 'sent' AND delivered IS NULL "
        "AND delivery_expired = 0 AND delivery_next_check_at <= CURRENT_TIMESTAMP LIMIT 1"
        if sqlite
        else "SELECT id FROM messages WHERE status = 'sent' AND delivered IS NULL AND NOT delivery_expired "
        "AND delivery_next_check_at <= now() LIMIT 1"
    )
    with services.db.read() as session:
        if not sqlite:
            session.execute(text("SET LOCAL enable_indexscan = off"))
            session.execute(text("SET LOCAL enable_bitmapscan = off"))
            session.execute(text("SET LOCAL enable_indexonlyscan = off"))
        for _ in range(5):
            started = time.perf_counter()
            session.execute(text(probe)).all()
            runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def main() -> None:
    note_load()
    pg_url = pg_base_url()
    kinds = ["sqlite"] + (["postgresql"] if pg_url else [])
    for kind in kinds:
        sweep(kind, pg_url)
    for kind in kinds:
        idle(kind, pg_url)
    note_load()


if __name__ == "__main__":
    main()
