"""Turns at SQLite's one write lock for the busiest writers of one process: first come, first served.

SQLite lets one writer in at a time; a writer that finds the database locked sleeps in SQLite's busy handler (1 ms
growing to 100 ms between tries) and gets in only if the lock happens to be free when it wakes. Two busy writers
of one process (the dispatcher's batches and a burst of webhooks) then do not share the lock fairly: the one
that takes it again at once wins, and the other may wait seconds. `write_turn(db)` queues them in this process
instead, in arrival order, each woken the moment the previous one's transaction ended. On PostgreSQL (row locks,
no single write lock) it does nothing.

Why not a library: this is a ticket lock on a condition variable, ten lines.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.store.db import Database


class WriteTurns:
    """A first-come, first-served lock (a ticket lock)."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._next = 0
        self._serving = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        with self._cv:
            ticket = self._next
            self._next += 1
            while self._serving != ticket:
                self._cv.wait()
        try:
            yield
        finally:
            with self._cv:
                self._serving += 1
                self._cv.notify_all()


_TURNS: weakref.WeakKeyDictionary[Any, WriteTurns] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


@contextmanager
def write_turn(db: Database) -> Iterator[None]:
    """Wait for this process's turn to write to `db` (SQLite), hold it for the block (a write transaction)."""
    if not db.is_sqlite:
        yield
        return
    with _LOCK:
        turns = _TURNS.get(db)
        if turns is None:
            turns = _TURNS[db] = WriteTurns()
    with turns.turn():
        yield
