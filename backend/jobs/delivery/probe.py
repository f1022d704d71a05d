"""The delivery job's idle check on one round trip: the probe (`delivery.store.probe`) on a connection the job
keeps, in autocommit.

An idle sweep runs every 5 seconds and almost always finds nothing to do. Through the pool on PostgreSQL it cost
four round trips (the pool's liveness ping, BEGIN, the probe, COMMIT), and on a busy machine a round trip can take
10 ms. The probe is a single read, so it needs no transaction; the kept connection needs no ping: when the
server dropped it, the probe fails once, the connection is thrown away and the probe runs again on a fresh one
from the pool (which pings it). SQLite has no round trips: there the probe uses a read session.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from backend.jobs.delivery import store
from backend.store.db import Database

log = logging.getLogger(__name__)


class Prober:
    """`probe(due_by, now, account_id)` -> (highest communication id, anything due); one caller at a time."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._connection: Any = None
        self._lock = threading.Lock()

    def probe(self, *, due_by: datetime, now: datetime, account_id: int | None) -> tuple[int, bool]:
        if self.db.dialect != "postgresql":
            with self.db.read() as session:
                return store.probe(session, due_by=due_by, now=now, account_id=account_id)
        with self._lock:
            for attempt in (1, 2):
                try:
                    with Session(bind=self._connect()) as session:
                        return store.probe(session, due_by=due_by, now=now, account_id=account_id)
                except DBAPIError:
                    self._drop()
                    if attempt == 2:
                        raise
                    log.info("the delivery job's probe connection was lost; probing on a new one")
        raise AssertionError("unreachable")

    def _connect(self) -> Any:
        if self._connection is None:
            self._connection = self.db.read_engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
            except Exception:
                log.debug("could not close the lost probe connection", exc_info=True)

    def close(self) -> None:
        """Give the connection back (the job stops)."""
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
