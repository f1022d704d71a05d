"""Shared set-up for the benchmarks: stores on SQLite and PostgreSQL, fast bulk data, JSON result lines.

Each benchmark prints one JSON object per line: {"bench", "metric", "value", "unit", "baseline", "ratio"};
notes (a skipped database, progress) go to stderr so stdout stays machine-readable.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import bindparam, create_engine, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.app import create_app  # noqa: E402
from backend.config import Config  # noqa: E402
from backend.store.migrate import upgrade  # noqa: E402
from backend.store.models import UTCDateTime  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def result(
    bench: str, metric: str, value: float, unit: str, baseline: float | None = None, ratio: float | None = None
) -> None:
    """Print one result line."""
    line = {"bench": bench, "metric": metric, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio}
    print(json.dumps(line), flush=True)


def note(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def note_load() -> None:
    """Wall-clock results depend on what else the machine runs: say so next to them."""
    one, five, _ = os.getloadavg()
    note(f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} CPUs")


def pg_base_url() -> str | None:
    """The PostgreSQL to use (BULKMSG_TEST_DATABASE_URL or the local default), or None when unreachable."""
    url = os.environ.get("BULKMSG_TEST_DATABASE_URL") or DEFAULT_PG_URL
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        note(f"PostgreSQL at {url.split('@')[-1]} is not reachable ({exc.__class__.__name__}); skipping it")
        return None
    finally:
        engine.dispose()
    return url


@contextmanager
def store(kind: str, base_pg_url: str | None = None) -> Iterator[Any]:
    """Services on a fresh, migrated store: `kind` is "sqlite" (a temp file) or "postgresql" (a fresh schema)."""
    with tempfile.TemporaryDirectory(prefix="bulkmsg-bench-") as tmp:
        data_dir = Path(tmp)
        schema = None
        if kind == "postgresql":
            assert base_pg_url is not None
            schema = f"bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(base_pg_url)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            sep = "&" if "?" in base_pg_url else "?"
            url = f"{base_pg_url}{sep}options={quote(f'-csearch_path={schema}')}"
        else:
            url = f"sqlite:///{data_dir / 'bench.sqlite3'}"
        config = Config(data_dir=data_dir, database_url=url, port=0, jobs=False, testing=True)
        app = create_app(config)
        services = app.extensions["bulkmsg"]
        upgrade(services.db)
        services.account_token()  # creates the default account (id 1)
        try:
            yield services
        finally:
            services.db.dispose()
            if schema is not None:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


def _numbers(dialect: str) -> tuple[str, str]:
    """(a WITH clause, a FROM item) giving rows i = 1..:n."""
    if dialect == "postgresql":
        return "", "generate_series(1, :n) AS seq(i)"
    return "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) ", "seq"


def insert_sent_messages(
    services: Any,
    n: int,
    *,
    at: datetime,
    delivered: bool | None = None,
    channel: str = "sms",
    account_id: int = 1,
) -> None:
    """Insert `n` sent messages due for a delivery check at `at` (or settled, when `delivered` is given)."""
    dialect = services.db.dialect
    with_clause, source = _numbers(dialect)
    false = "false" if dialect == "postgresql" else "0"
    delivered_sql = "NULL" if delivered is None else str(delivered).lower()
    if dialect == "sqlite" and delivered is not None:
        delivered_sql = "1" if delivered else "0"
    sql = (
        f"{with_clause}INSERT INTO messages (account_id, channel, recipient, body, sender_type, sender_id, status, "
        "attempts, next_attempt_at, provider_message_id, delivered, delivery_expired, delivery_check_attempts, "
        "delivery_next_check_at, metadata, created_at, updated_at, sent_at, delivered_at) "
        f"SELECT :account_id, :channel, '+1555' || i, 'Hello number ' || i || ', your order has shipped.', "
        f"'campaign', '1', 'sent', 1, :at, 'SM' || i || '-' || :tag, {delivered_sql}, {false}, 0, :at, '{{}}', "
        f":at, :at, :at, {':at' if delivered else 'NULL'} FROM {source}"
    )
    stmt = text(sql).bindparams(bindparam("at", type_=UTCDateTime))
    with services.db.write() as session:
        session.execute(
            stmt, {"n": n, "at": at, "account_id": account_id, "channel": channel, "tag": uuid.uuid4().hex[:6]}
        )


def insert_final_communications(services: Any, *, at: datetime, every_nth_missing: int | None = 50) -> None:
    """A final communication for every message but each `every_nth_missing`-th (1 in 20 of them a failure)."""
    dialect = services.db.dialect
    true = "true" if dialect == "postgresql" else "1"
    false = "false" if dialect == "postgresql" else "0"
    skip = f"WHERE id % {every_nth_missing} <> 0" if every_nth_missing else ""
    sql = (
        "INSERT INTO communications (account_id, message_id, provider, provider_event_id, provider_status, "
        "success, error_code, error_text, payload, received_at) "
        f"SELECT account_id, id, 'twilio', provider_message_id || '-final', "
        f"CASE WHEN id % 20 = 0 THEN 'undelivered' ELSE 'delivered' END, "
        f"CASE WHEN id % 20 = 0 THEN {false} ELSE {true} END, "
        f"CASE WHEN id % 20 = 0 THEN '30003' END, CASE WHEN id % 20 = 0 THEN 'Unreachable handset' END, "
        f"'{{}}', :at FROM messages {skip}"
    )
    stmt = text(sql).bindparams(bindparam("at", type_=UTCDateTime))
    with services.db.write() as session:
        session.execute(stmt, {"at": at})
    analyze(services)


def analyze(services: Any) -> None:
    """Fresh planner statistics, as a database that has been running a while has."""
    with services.db.write() as session:
        session.execute(text("ANALYZE"))
