"""The delivery-status job on a real store (SQLite and PostgreSQL): settling, back-off, expiry, leases."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from backend.app import create_app
from backend.jobs.delivery.status import DeliveryStatusJob
from backend.store.migrate import upgrade
from backend.store.models import Message, utcnow
from tests.delivery_support import Clock, add_report, add_sent, count, message, updated_events


@pytest.fixture
def services(database_url: str, make_config: Any) -> Iterator[Any]:
    app = create_app(make_config(database_url=database_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    services.account_token()  # account 1
    yield services
    services.db.dispose()


def test_it_settles_each_message_from_its_first_final_communication(services: Any) -> None:
    delivered, bounced, waiting, silent = add_sent(services, 4)
    first = add_report(services, delivered, "delivered")
    add_report(services, delivered, "read")
    add_report(services, bounced, "bounce", error_text="mailbox full")
    add_report(services, waiting, "processed")

    done = DeliveryStatusJob(services).run_once()

    assert (done["claimed"], done["delivered"], done["undelivered"], done["not_final"]) == (4, 1, 1, 2)
    row = message(services, delivered)
    assert row.delivered is True and row.delivered_at is not None
    assert row.meta == {"source_ref": 0, "communication_id": first}
    assert message(services, bounced).delivered is False
    assert message(services, waiting).delivered is None and message(services, silent).delivered is None
    events = updated_events(services)
    assert [(e["id"], e["delivery"], e["_level"]) for e in events] == [
        (delivered, "delivered", "success"),
        (bounced, "undelivered", "error"),
    ]
    assert events[0]["metadata"]["communication_id"] == first
    assert events[1]["_text"] == "Not delivered to ann1@example.org: mailbox full"
    assert count(services, "SELECT count(*) FROM messages WHERE delivery_lease_owner IS NOT NULL") == 0


def test_it_checks_again_on_the_exact_backoff_schedule_then_expires_and_a_late_callback_still_settles(
    services: Any,
) -> None:
    clock = Clock()
    (message_id,) = add_sent(services, at=clock.now)
    job = DeliveryStatusJob(services, clock=clock)

    waits = []
    for attempt in range(1, 11):
        assert job.run_once()["not_final"] == 1
        row = message(services, message_id)
        assert row.delivery_check_attempts == attempt
        waits.append((row.delivery_next_check_at - clock.now).total_seconds())  # type: ignore[operator]
        clock.advance(waits[-1] - 0.001)
        assert job.run_once()["claimed"] == 0, "checked before it was due"
        clock.advance(0.001)
    assert waits == [2.0 ** (n - 1) for n in range(1, 11)]  # 1 s, 2 s, 4 s ... 512 s: about 17 minutes
    assert updated_events(services) == []

    assert job.run_once()["expired"] == 1
    (expired,) = updated_events(services)
    assert (expired["delivery"], expired["delivered"], expired["_level"]) == ("expired", None, "warning")
    clock.advance(3600)
    assert job.run_once()["claimed"] == 0, "an expired message is not checked again by itself"

    communication_id = add_report(services, message_id, "delivered")
    done = job.run_once()

    assert (done["made_due"], done["delivered"]) == (1, 1)
    row = message(services, message_id)
    assert (row.delivered, row.delivery_expired, row.meta["communication_id"]) == (True, False, communication_id)
    assert updated_events(services)[-1]["delivery"] == "delivered"


def test_it_settles_a_message_in_backoff_as_soon_as_its_callback_is_recorded(services: Any) -> None:
    clock = Clock()
    (message_id,) = add_sent(services, at=clock.now)
    job = DeliveryStatusJob(services, clock=clock)
    for _ in range(6):  # next check now 32 s away
        job.run_once()
        clock.now = message(services, message_id).delivery_next_check_at  # type: ignore[assignment]
    clock.advance(-20)

    add_report(services, message_id, "undelivered", error_code="30003")
    done = job.run_once()

    assert (done["made_due"], done["undelivered"]) == (1, 1)
    assert message(services, message_id).delivered is False
    assert updated_events(services)[-1]["_text"] == "Not delivered to ann0@example.org: 30003"


def test_it_matches_and_settles_a_whole_batch_in_a_handful_of_statements(services: Any) -> None:
    ids = add_sent(services, 600)
    for message_id in ids[:500]:
        add_report(services, message_id, "delivered")
    statements: list[str] = []
    engines = {services.db.write_engine, services.db.read_engine}
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    for engine in engines:
        event.listen(engine, "before_cursor_execute", listener)
    try:
        done = DeliveryStatusJob(services).run_once()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", listener)

    assert (done["delivered"], done["not_final"]) == (500, 100)
    assert len(updated_events(services)) == 500
    # cursor, claim probe + claim, match, settle, reschedule, 2 event inserts, BEGIN/NOTIFY: not one per message
    assert len(statements) < 25, statements


def test_it_never_settles_a_message_twice_with_two_jobs_on_one_store(services: Any) -> None:
    clock = Clock()  # frozen: a message rescheduled by one job is not due again for the other
    ids = add_sent(services, 1200, at=clock.now)
    for message_id in ids[::2]:
        add_report(services, message_id, "delivered")
    jobs = [DeliveryStatusJob(services, clock=clock, batch_size=100) for _ in range(2)]
    together = threading.Barrier(2)
    results: list[dict[str, Any]] = []

    def sweep(job: DeliveryStatusJob) -> None:
        together.wait(10)
        results.append(job.run_once())

    threads = [threading.Thread(target=sweep, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sum(r["claimed"] for r in results) == 1200, results
    settled = [e["id"] for e in updated_events(services)]
    assert sorted(settled) == sorted(ids[::2]), "each message settled exactly once"
    assert count(services, "SELECT min(delivery_check_attempts) FROM messages WHERE delivered IS NULL") == 1
    assert count(services, "SELECT max(delivery_check_attempts) FROM messages") == 1, "each checked once"


def test_it_reclaims_a_stale_lease_and_the_stale_workers_late_write_changes_nothing(services: Any) -> None:
    clock = Clock()
    ids = add_sent(services, 3, at=clock.now)
    for message_id in ids:
        add_report(services, message_id, "delivered")
    stale = DeliveryStatusJob(services, clock=clock, lease_s=60)
    other = DeliveryStatusJob(services, clock=clock)

    batch = stale.claim(due_by=clock.now)  # ... and then this worker stalls
    assert len(batch) == 3
    assert other.run_once()["claimed"] == 0, "a live lease keeps other workers off"
    clock.advance(61)
    assert other.run_once()["delivered"] == 3, "an expired lease is claimable again"

    late = stale.settle(batch)

    assert late == {"delivered": 0, "undelivered": 0, "not_final": 0, "expired": 0}
    assert sorted(e["id"] for e in updated_events(services)) == sorted(ids)
    assert count(services, "SELECT count(*) FROM messages WHERE delivery_lease_owner IS NOT NULL") == 0


def test_it_releases_the_leases_of_a_process_that_died(services: Any) -> None:
    ids = add_sent(services, 2)
    add_report(services, ids[0], "delivered")
    dead_owner = f"{socket.gethostname()}:999999999:delivery:abc"  # no process has that pid on this host
    with services.db.write() as session:
        for message_id in ids:
            row = session.get(Message, message_id)
            row.delivery_lease_owner = dead_owner
            row.delivery_lease_until = utcnow() + timedelta(hours=1)
    job = DeliveryStatusJob(services)
    assert job.run_once()["claimed"] == 0, "the lease is an hour long"

    assert job.release_dead_leases() == 2
    done = job.run_once()

    assert (done["claimed"], done["delivered"], done["not_final"]) == (2, 1, 1)


def test_a_due_message_with_a_final_communication_is_settled_directly_and_a_live_lease_is_left_alone(
    services: Any,
) -> None:
    clock = Clock()
    reported, leased = add_sent(services, 2, at=clock.now)
    first = add_report(services, reported, "delivered")
    add_report(services, reported, "undelivered")
    add_report(services, leased, "bounce")
    with services.db.write() as session:
        row = session.get(Message, leased)
        row.delivery_lease_owner = "another-live-worker"
        row.delivery_lease_until = clock.now + timedelta(seconds=60)
    job = DeliveryStatusJob(services, clock=clock)
    parameters: list[Any] = []
    listener = lambda *args: parameters.append(args[3])  # noqa: E731
    event.listen(services.db.write_engine, "before_cursor_execute", listener)
    try:
        done = job.run_once()
    finally:
        event.remove(services.db.write_engine, "before_cursor_execute", listener)

    assert (done["claimed"], done["delivered"], done["undelivered"], done["not_final"]) == (1, 1, 0, 0)
    assert job.owner not in repr(parameters), "settled without ever taking a lease"
    row = message(services, reported)
    assert (row.delivered, row.meta["communication_id"], row.delivery_check_attempts) == (True, first, 0)
    assert (row.delivery_lease_owner, row.delivery_lease_until) == (None, None)
    held = message(services, leased)
    assert (held.delivered, held.delivery_lease_owner) == (None, "another-live-worker"), "a live lease is not touched"
    assert [e["id"] for e in updated_events(services)] == [reported]

    clock.advance(61)  # the other worker's lease ran out: its message is settled directly now
    (silent,) = add_sent(services, at=clock.now)
    done = job.run_once()

    assert (done["claimed"], done["undelivered"], done["not_final"]) == (2, 1, 1)
    assert (message(services, leased).delivered, message(services, leased).delivery_lease_owner) == (False, None)
    assert message(services, silent).delivery_check_attempts == 1
    assert [e["id"] for e in updated_events(services)] == [reported, leased]


def test_it_sweeps_on_after_the_database_dropped_the_idle_probes_connection(services: Any) -> None:
    """The idle probe keeps one connection (PostgreSQL); when the server ends it, the next run probes on a fresh one
    and still settles what is due."""
    from sqlalchemy import text

    clock = Clock()
    job = DeliveryStatusJob(services, clock=clock)
    assert job.run_once()["claimed"] == 0
    if services.db.dialect == "postgresql":
        kept = job.prober._connection
        pid = kept.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with services.db.write() as session:
            assert session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar() is True
    [message_id] = add_sent(services, 1, at=clock.now - timedelta(seconds=1))
    add_report(services, message_id, "delivered")

    assert job.run_once()["delivered"] == 1
    assert message(services, message_id).delivered is True
    job.stop()
