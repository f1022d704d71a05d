"""Issue 3's full-size safety runs, with the counts printed (tests/test_dispatch_crash.py runs them smaller).

1. `kill_9` (SQLite) and `kill_9_postgresql`: a 10,000-message SMTP campaign in a real `bulkmsg serve` process
   (4 SMTP connections), killed with SIGKILL
   after a quarter arrived, then a second process resumes it. Printed: what arrived at aiosmtpd, how many
   recipients got it twice (must be 0), sent / uncertain rows (uncertain <= 4: one per SMTP connection), missing ones.
2. `shared`: two `bulkmsg serve` processes on one PostgreSQL share a 5,000-message campaign. Printed: arrivals,
   duplicates (must be 0), and how many SMTP connections delivered (both processes took part).
Both end with the exactly-once checks of the tests (an AssertionError when one fails).
Sizes: BENCH_CRASH_N (10000), BENCH_SHARED_N (5000). PostgreSQL: BULKMSG_TEST_DATABASE_URL or the local default.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from _common import note, pg_base_url, result
from sqlalchemy import create_engine, text

from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import wait_for
from tests.test_dispatch_crash import Serve, assert_exactly_once, campaign_status, prepare, statuses

CRASH_N = int(os.environ.get("BENCH_CRASH_N", "10000"))
SHARED_N = int(os.environ.get("BENCH_SHARED_N", "5000"))


def kill_9(database_url: str | None = None, label: str = "kill_9") -> None:
    """Kill `bulkmsg serve` (4 SMTP connections) after a quarter arrived, then resume in a second process; on
    SQLite (`database_url` None) or the PostgreSQL at `database_url`."""
    with FakeSmtpServer("plain", keep_messages=True) as smtp:
        data_dir = Path(tempfile.mkdtemp(prefix="bulkmsg-crash-"))
        url = database_url or f"sqlite:///{data_dir / 'bulkmsg.sqlite3'}"
        services, campaign_id = prepare(data_dir, url, smtp, CRASH_N, connections=4)
        started = time.perf_counter()
        first = Serve(data_dir, database_url)
        try:
            wait_for(lambda: smtp.count >= CRASH_N // 4, timeout=300, what="a quarter to arrive")
        finally:
            first.kill()
        at_kill = smtp.count
        second = Serve(data_dir, database_url)
        try:
            wait_for(lambda: campaign_status(services, campaign_id) == "completed", timeout=900, what="completion")
        finally:
            second.stop()
        elapsed = time.perf_counter() - started
        counts = statuses(services, campaign_id)
        arrivals = smtp.arrivals()
        twice = sum(1 for c in arrivals.values() if c > 1)
        note(f"{label}: kill -9 after {at_kill} arrived; rows {counts}; {len(arrivals)} recipients; {elapsed:.0f} s")
        result("campaign_crash", f"{label}_arrived", len(arrivals), "recipients", CRASH_N, len(arrivals) / CRASH_N)
        result("campaign_crash", f"{label}_sent_twice", twice, "recipients")
        result("campaign_crash", f"{label}_uncertain", counts.get("uncertain", 0), "messages")
        assert_exactly_once(services, campaign_id, smtp, CRASH_N, in_flight=4)
        services.db.dispose()


def fresh_schema(base_url: str) -> tuple[str, str]:
    """A new schema on the PostgreSQL at `base_url`: (its name, a URL that uses it)."""
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    sep = "&" if "?" in base_url else "?"
    return schema, f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}"


def drop_schema(base_url: str, schema: str) -> None:
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def shared(base_url: str) -> None:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base_url else "?"
    url = f"{base_url}{sep}options={quote(f'-csearch_path={schema}')}"
    try:
        with FakeSmtpServer("plain", keep_messages=True) as smtp:
            data_dir = Path(tempfile.mkdtemp(prefix="bulkmsg-shared-"))
            services, campaign_id = prepare(data_dir, url, smtp, SHARED_N)
            started = time.perf_counter()
            processes = [Serve(data_dir, url) for _ in range(2)]
            try:
                wait_for(lambda: campaign_status(services, campaign_id) == "completed", timeout=900, what="completion")
            finally:
                for proc in processes:
                    proc.stop()
            elapsed = time.perf_counter() - started
            arrivals = smtp.arrivals()
            peers = {item.peer for item in smtp.received}
            twice = sum(1 for c in arrivals.values() if c > 1)
            note(
                f"two processes: rows {statuses(services, campaign_id)}; {len(peers)} SMTP connections; {elapsed:.0f} s"
            )
            result("campaign_crash", "shared_arrived", len(arrivals), "recipients", SHARED_N, len(arrivals) / SHARED_N)
            result("campaign_crash", "shared_sent_twice", twice, "recipients")
            assert_exactly_once(services, campaign_id, smtp, SHARED_N, in_flight=0)
            services.db.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    kill_9()
    base = pg_base_url()
    if base is not None:
        schema, url = fresh_schema(base)
        try:
            kill_9(url, "kill_9_postgresql")
        finally:
            drop_schema(base, schema)
        shared(base)


if __name__ == "__main__":
    main()
