"""Engines and sessions.

SQLite (the embedded default): WAL, busy_timeout 30 s, foreign keys on, and every write transaction opened with
`BEGIN IMMEDIATE` so that two writers queue on the lock instead of failing with "database is locked" half-way
(PLATFORM.md measured it). Reads use plain deferred transactions and never block writers under WAL.
Checkpoints (copying the WAL into the database file, with its fsync) are not left to whichever commit passes
SQLite's default 1,000 pages: that commit, often a webhook burst's shared transaction, then stalls every writer
waiting behind it (a wave of 300-800 ms answers about once a second in bench/webhook_burst.py). A serving
process runs `checkpoint()` (PASSIVE: it never waits for, nor blocks, readers and writers) every CHECKPOINT_S
from its scheduler; commits checkpoint only past AUTOCHECKPOINT_PAGES, a backstop for processes without one.
PostgreSQL: one engine for both.

Use `with db.write() as session:` for anything that writes (it commits on exit) and `with db.read() as s:`
for reads. Never hold a write transaction across a network call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from backend.security.files import private_sqlite

log = logging.getLogger(__name__)

#: writers queue behind a long write (a 20 MB contact import holds the lock for seconds) instead of failing.
BUSY_TIMEOUT_MS = 30_000
#: seconds between a serving process's background checkpoints; pages of WAL after which a commit checkpoints.
CHECKPOINT_S = 1.0
AUTOCHECKPOINT_PAGES = 10_000


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                private_sqlite(Path(path))  # before SQLite creates it 0644 (its -wal/-shm follow its mode)
            self.write_engine = _sqlite_engine(url, begin="BEGIN IMMEDIATE")
            self.read_engine = _sqlite_engine(url, begin="BEGIN")
        else:
            self.write_engine = create_engine(
                url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True, pool_recycle=1800
            )
            self.read_engine = self.write_engine
        self.write_sessions = sessionmaker(self.write_engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(self.read_engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session in one write transaction; commits on success, rolls back on error."""
        with self.write_sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._read_sessions() as session, session.begin():
            yield session

    def checkpoint(self) -> None:
        """A PASSIVE WAL checkpoint on SQLite (outside any transaction); nothing on PostgreSQL."""
        if not self.is_sqlite:
            return
        raw = self.read_engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.close()
        finally:
            raw.close()

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def _sqlite_engine(url: str, *, begin: str) -> Engine:
    # A pooled connection is used by one thread at a time, so sharing it across threads is safe.
    engine = create_engine(
        url, pool_size=10, max_overflow=20, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours to emit.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine
