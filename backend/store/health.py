"""Store health: can the app still reach and write its store? (`GET /api/health`, DESIGN section 9.)

A probe does real writes, cheaply and within a deadline:
- the data directory (and the SQLite file's directory): a small file written and removed, so a full or
  read-only disk shows at once;
- the database: a short write transaction on a connection of its own (PostgreSQL: a transaction id is assigned
  and committed, which writes the server's WAL; SQLite: the file is opened and read, its disk probed as above).

The probe runs on a thread of its own and is waited for at most `PROBE_TIMEOUT_S`; a probe still running (a
database that does not answer) is reported as a problem, and no second probe is started beside it. Results are
kept for `CACHE_S`, so many open screens polling cost one probe. Nothing here changes when the store comes back:
the next probe simply finds no problem.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 2.0
CACHE_S = 1.0
#: less free space than this on the data directory's disk is reported as full: SQLite and the send journal
#: fail before the last byte is used.
MIN_FREE_BYTES = 1024 * 1024
PROBE_BYTES = 4096
PROBE_FILE = ".health-probe"


@dataclass(frozen=True)
class Problem:
    #: `disk_full`, `disk_not_writable`, `database_unreachable`, `database_not_writable`
    code: str
    #: what is wrong, one sentence
    message: str
    #: what to do about it, one sentence
    fix: str
    #: the folder concerned, shown to signed-in callers only (a path tells a stranger about the machine)
    where: str | None = None

    def as_dict(self, with_paths: bool = False) -> dict[str, str]:
        found = {"code": self.code, "message": self.message, "fix": self.fix}
        if with_paths and self.where:
            found["where"] = self.where
        return found


class StoreHealth:
    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.is_sqlite = database_url.startswith("sqlite")
        self._dirs = [data_dir]
        if self.is_sqlite:
            path = make_url(database_url).database
            if path and path != ":memory:":
                folder = Path(path).resolve().parent
                if folder != data_dir.resolve():
                    self._dirs.append(folder)
        self._engine: Engine | None = None
        self._lock = threading.Lock()
        self._running: threading.Thread | None = None
        self._result: list[Problem] = []
        self._checked_at = -1e9

    def problems(self) -> list[Problem]:
        """The store's problems now (empty when all is well); at most about PROBE_TIMEOUT_S."""
        with self._lock:
            if time.monotonic() - self._checked_at < CACHE_S:
                return self._result
            probe = self._running
            if probe is None:
                probe = threading.Thread(target=self._probe, name="store-health", daemon=True)
                self._running = probe
                probe.start()
        probe.join(PROBE_TIMEOUT_S)
        if probe.is_alive():
            return [
                Problem(
                    "database_unreachable",
                    "The database is not answering.",
                    self._database_fix(),
                )
            ]
        with self._lock:
            return self._result

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    # -- the probe (its own thread) ------------------------------------------------------------------------

    def _probe(self) -> None:
        found: list[Problem] = []
        try:
            for folder in self._dirs:
                problem = self._probe_dir(folder)
                if problem is not None:
                    found.append(problem)
            if not found or not self.is_sqlite:
                problem = self._probe_database()
                if problem is not None:
                    found.append(problem)
        finally:
            with self._lock:
                self._result = found
                self._checked_at = time.monotonic()
                self._running = None

    def _probe_dir(self, folder: Path) -> Problem | None:
        what = "its data folder" if folder == self.data_dir else "the database file's folder"
        full = Problem(
            "disk_full",
            f"The disk holding {what} is full.",
            "Free some space on that disk; sending resumes by itself when there is room.",
            str(folder),
        )
        try:
            if shutil.disk_usage(folder).free < MIN_FREE_BYTES:
                return full
            probe = folder / PROBE_FILE
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                # write() itself fails with ENOSPC on a full disk (blocks are reserved at write time); no fsync:
                # the probe must stay cheap, and flushing the disk's cache would make it as slow as the disk.
                os.write(fd, b"\0" * PROBE_BYTES)
            finally:
                os.close(fd)
                probe.unlink(missing_ok=True)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                return full
            return Problem(
                "disk_not_writable",
                f"The app cannot write to {what} ({exc.strerror or exc.__class__.__name__}).",
                "Check that the folder exists, its disk is mounted and the app's user may write to it.",
                str(folder),
            )
        return None

    def _probe_database(self) -> Problem | None:
        try:
            engine = self._engine_for_probe()
            with engine.connect() as conn:
                if self.is_sqlite:
                    conn.execute(text("SELECT count(*) FROM sqlite_master"))
                else:
                    conn.execute(text("SELECT txid_current()"))  # a real write: an xid committed to the WAL
                conn.commit()
        except Exception as exc:
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            detail = reason[0] if reason else exc.__class__.__name__
            log.warning("store health: the database probe failed: %s", _without_secrets(detail))
            if "full" in detail.lower() or "space" in detail.lower():
                return Problem(
                    "database_not_writable",
                    "The database cannot write: its disk is full.",
                    "Free some space on the database's disk; sending resumes by itself when there is room.",
                )
            return Problem("database_unreachable", "The database cannot be reached.", self._database_fix())
        return None

    def _engine_for_probe(self) -> Engine:
        if self._engine is None:
            if self.is_sqlite:
                self._engine = create_engine(
                    self.database_url, poolclass=NullPool, connect_args={"timeout": PROBE_TIMEOUT_S}
                )
            else:
                timeout_ms = int(PROBE_TIMEOUT_S * 1000)
                # One pooled connection, checked before use: a stopped server shows at once, a live one costs
                # no new connection per probe.
                self._engine = create_engine(
                    self.database_url,
                    pool_size=1,
                    max_overflow=0,
                    pool_pre_ping=True,
                    pool_timeout=PROBE_TIMEOUT_S,
                    connect_args={
                        "connect_timeout": max(1, int(PROBE_TIMEOUT_S)),
                        "options": f"-c statement_timeout={timeout_ms}",
                    },
                )
        return self._engine

    def _database_fix(self) -> str:
        if self.is_sqlite:
            return "Check the disk holding the database file; sending resumes by itself when it answers."
        return "Start PostgreSQL or check BULKMSG_DATABASE_URL; sending resumes by itself when it answers."


def _without_secrets(detail: str) -> str:
    # psycopg names host and port in its messages, never the password; keep it short all the same.
    return detail[:200]
