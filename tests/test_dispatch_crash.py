"""Crash safety with real processes: `bulkmsg serve` killed with SIGKILL mid-campaign, and two processes on one
PostgreSQL sharing a campaign. The SMTP server counts what really arrived.

`make test` runs them at BULKMSG_CRASH_SIZE=1200 (three kills, SQLite and PostgreSQL, 4 SMTP connections per process)
/ BULKMSG_SHARED_SIZE=500; issue 3's full sizes (10,000 with one kill, and 5,000) run in `bench/campaign_crash.py`,
which prints the counts. A SIGTERM mid-campaign starts no send after the signal and leaves nothing uncertain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from backend.app import create_app
from backend.config import Config
from backend.store.migrate import upgrade
from backend.store.models import Campaign, Message
from tests.campaign_helpers import add_contacts, configure_smtp
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import bearer, wait_for

ROOT = Path(__file__).resolve().parent.parent
CRASH_SIZE = int(os.environ.get("BULKMSG_CRASH_SIZE", "1200"))
#: how long a signal may take to reach the process and its handler to run (Python runs it in the main thread, which a
#: loaded machine may not schedule at once). A stop that did not stop would keep sending for seconds after it.
SIGNAL_SLACK_S = 0.25
SHARED_SIZE = int(os.environ.get("BULKMSG_SHARED_SIZE", "500"))


class Serve:
    """`python -m backend serve --port 0` in its own process."""

    def __init__(self, data_dir: Path, db: str | None = None) -> None:
        args = [sys.executable, "-m", "backend", "serve", "--port", "0", "--data-dir", str(data_dir)]
        if db:
            args += ["--db", db]
        self.log = open(data_dir / f"serve-{time.monotonic_ns()}.out", "wb")  # noqa: SIM115
        env = {**os.environ, "BULKMSG_DELIVERY_JOB": "false", "BULKMSG_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def processes() -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for proc in started:
        proc.kill()


def prepare(data_dir: Path, database_url: str, smtp: FakeSmtpServer, n: int, connections: int = 4) -> tuple[Any, int]:
    """Configure SMTP, add n contacts, create and start a campaign (no dispatcher runs in this process)."""
    config = Config(data_dir=data_dir, database_url=database_url, port=0, jobs=False, testing=True)
    app = create_app(config)
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    account_id = configure_smtp(services, smtp.settings(connections=connections))
    add_contacts(services, account_id, n)
    client, auth = app.test_client(), bearer(services.account_token())
    body = {
        "name": "crash",
        "channel": "smtp",
        "subject": "Hi {{ first_name }}",
        "body": "Hello {{ name }}",
        "recipients": {"all": True},
    }
    created = client.post("/api/campaigns", json=body, headers=auth)
    assert created.status_code == 201, created.get_json()
    campaign = created.get_json()
    started = client.post(f"/api/campaigns/{campaign['id']}/start", headers=auth)
    assert started.status_code == 200, started.get_json()
    return services, campaign["id"]


def statuses(services: Any, campaign_id: int) -> dict[str, int]:
    with services.db.read() as session:
        rows = session.execute(
            select(Message.status, func.count()).where(Message.campaign_id == campaign_id).group_by(Message.status)
        ).all()
    return {status: n for status, n in rows}


def campaign_status(services: Any, campaign_id: int) -> str:
    with services.db.read() as session:
        return session.get(Campaign, campaign_id, populate_existing=True).status  # type: ignore[union-attr]


def assert_exactly_once(services: Any, campaign_id: int, smtp: FakeSmtpServer, n: int, in_flight: int) -> None:
    """Nobody got two copies, nothing marked sent is missing, whatever is missing is `uncertain`, and at most
    `in_flight` are (the sends in flight when processes died: one per worker)."""
    arrivals = smtp.arrivals()
    with services.db.read() as session:
        rows = session.execute(select(Message.recipient, Message.status).where(Message.campaign_id == campaign_id))
        by_status: dict[str, set[str]] = {}
        for recipient, status in rows:
            by_status.setdefault(status, set()).add(recipient)
    twice = {r: c for r, c in arrivals.items() if c > 1}
    assert twice == {}, f"sent more than once: {list(twice)[:5]}"
    uncertain = by_status.get("uncertain", set())
    assert len(uncertain) <= in_flight, f"{len(uncertain)} uncertain: {sorted(uncertain)[:5]}"
    assert by_status.get("sent", set()) <= set(arrivals), "a message marked sent never arrived"
    missing = {f"person{i}@example.org" for i in range(n)} - set(arrivals)
    assert missing <= uncertain, f"lost without a trace: {sorted(missing - uncertain)[:5]}"
    assert set(by_status) <= {"sent", "uncertain"}, by_status.keys()


#: SMTP connections (workers) per process in the crash tests: each may have a send in flight at a kill.
CONNECTIONS = 4


def kill_9_and_resume(data_dir: Path, database_url: str, processes: list[Serve], size: int) -> None:
    """Kill `bulkmsg serve` three times mid-campaign (4 SMTP connections each), then let a fourth finish it."""
    with FakeSmtpServer("plain", keep_messages=True) as smtp:
        services, campaign_id = prepare(data_dir, database_url, smtp, size, connections=CONNECTIONS)
        db = database_url if not database_url.startswith("sqlite") else None

        # Killed three times, each time mid-batch as likely as not: every crash may leave one send in flight per
        # connection.
        kills = (4, 2, 4 / 3)
        for share in kills:
            doomed = Serve(data_dir, db)
            processes.append(doomed)
            wait_for(lambda share=share: smtp.count >= size / share, timeout=60, what="more mail to arrive")
            doomed.kill()
            assert smtp.count < size, "killed too late to prove anything"
            assert campaign_status(services, campaign_id) == "running"

        last = Serve(data_dir, db)
        processes.append(last)
        wait_for(lambda: campaign_status(services, campaign_id) == "completed", timeout=90, what="completion")
        counts = statuses(services, campaign_id)
        assert counts.get("sent", 0) + counts.get("uncertain", 0) == size
        assert_exactly_once(services, campaign_id, smtp, size, in_flight=len(kills) * CONNECTIONS)
        peers = {item.peer for item in smtp.received}
        assert len(peers) > len(kills) + 1, "the processes sent over several connections at once"
        last.stop()
        # Every dead process's journal was read and removed; the last one removed its own on a clean stop.
        assert list((data_dir / "journal").iterdir()) == []
        services.db.dispose()


def test_it_resumes_after_kill_9_and_sends_each_message_once(tmp_path, processes):
    data_dir = tmp_path / "data"
    kill_9_and_resume(data_dir, f"sqlite:///{data_dir / 'bulkmsg.sqlite3'}", processes, CRASH_SIZE)


@pytest.mark.postgres
def test_it_resumes_after_kill_9_on_postgresql_and_sends_each_message_once(tmp_path, processes, pg_url):
    kill_9_and_resume(tmp_path / "data", pg_url, processes, CRASH_SIZE)


def test_it_starts_no_send_after_sigterm_and_loses_nothing(tmp_path, processes):
    # Each reply 20 ms away: sends take a while, so a stop that let them go on would show at the server.
    with FakeSmtpServer("plain", keep_messages=True, reply_delay_s=0.02) as smtp:
        data_dir = tmp_path / "data"
        n = 2000
        services, campaign_id = prepare(data_dir, f"sqlite:///{data_dir / 'bulkmsg.sqlite3'}", smtp, n)
        serve = Serve(data_dir)
        processes.append(serve)
        wait_for(lambda: smtp.count >= 100, timeout=60, what="a hundred messages")
        signalled = time.monotonic()
        serve.proc.send_signal(signal.SIGTERM)
        assert serve.proc.wait(30) == 0
        serve.log.close()

        # No MAIL FROM after the signal (the few milliseconds a signal takes to arrive aside); those in flight
        # finished and were recorded: nothing is `sending`, nothing needlessly `uncertain`, nothing lost.
        late = [t - signalled for t in smtp.mail_times() if t > signalled + SIGNAL_SLACK_S]
        assert late == [], f"{len(late)} sends started after the signal"
        counts = statuses(services, campaign_id)
        assert counts.get("sending", 0) == counts.get("uncertain", 0) == 0, counts
        assert counts["sent"] == smtp.count == len(smtp.arrivals()) < n
        assert counts["queued"] == n - counts["sent"]
        assert list((data_dir / "journal").iterdir()) == []
        services.db.dispose()


@pytest.mark.postgres
def test_it_shares_a_campaign_between_two_processes_without_sending_twice(tmp_path, processes, pg_url):
    with FakeSmtpServer("plain", keep_messages=True) as smtp:
        data_dir = tmp_path / "data"
        services, campaign_id = prepare(data_dir, pg_url, smtp, SHARED_SIZE)
        # Both processes use the same data directory (the same key for the stored SMTP password).
        for _ in range(2):
            processes.append(Serve(data_dir, pg_url))
        wait_for(lambda: campaign_status(services, campaign_id) == "completed", timeout=120, what="completion")
        with services.db.read() as session:
            owners = session.execute(
                select(func.count(func.distinct(Message.provider_message_id))).where(Message.campaign_id == campaign_id)
            ).scalar()
        assert owners == SHARED_SIZE
        assert_exactly_once(services, campaign_id, smtp, SHARED_SIZE, in_flight=0)
        assert sum(smtp.arrivals().values()) == SHARED_SIZE
        for proc in processes:
            proc.stop()
        services.db.dispose()
