"""Webhook writes share write transactions (group commit), so a burst of callbacks does not starve the dispatcher.

On SQLite one writer holds the database at a time: 2,000 webhooks, each in a write transaction of its own, queue
2,000 times for the write lock between the dispatcher's batches (the dispatcher's batch then waits behind them).
Here each request hands its write (a function of a session) to `GroupCommit.run` and waits: the first waiting
request becomes the leader, takes every write queued meanwhile (up to MAX_BATCH), runs them in one transaction,
each in a savepoint of its own (one failing write is rolled back alone and its error goes to its own request),
commits, wakes them all and hands the lead to one of the requests still waiting (so a leader answers its own
request after one batch, however long the burst). A request gets its answer only after the commit: what a
webhook acknowledged is durable (a kill -9 right after the 200 loses nothing).

The batch and the dispatcher's batches take turns at SQLite's write lock (`backend.store.write_turns`), so neither
waits in SQLite's busy handler while the other takes the lock again and again. No thread of its own: the leader
is a request thread. Why not a library: this is a few lines on the app's own
`Database.write()`, and SQLAlchemy has no group commit.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from backend.store.write_turns import write_turn

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from backend.store.db import Database

T = TypeVar("T")
#: writes in one transaction at most (a transaction stays short: the dispatcher waits for the lock meanwhile).
MAX_BATCH = 64
#: longest a request waits for its write's commit before it answers with an error (and the provider retries).
WAIT_S = 30.0


@dataclass
class _Write(Generic[T]):
    work: Callable[[Session], T]
    done: threading.Event = field(default_factory=threading.Event)  # set under GroupCommit._cv
    value: Any = None
    error: BaseException | None = None


class GroupCommit:
    """Runs writes from many threads in shared transactions (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cv = threading.Condition()
        self._pending: list[_Write[Any]] = []
        self._leading = False

    def run(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in a write transaction (shared with other writes) and return its value once
        committed; raises what `work` raised (only its own savepoint was rolled back) or what the commit raised."""
        write: _Write[T] = _Write(work)
        with self._cv:
            self._pending.append(write)
            while not write.done.is_set():
                if not self._leading:
                    self._leading = True
                    batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                    self._cv.release()
                    try:
                        self._commit(batch)
                    finally:
                        self._cv.acquire()
                        self._leading = False
                        self._cv.notify_all()  # a waiting request leads the next batch
                elif not self._cv.wait(WAIT_S):
                    raise TimeoutError("the store did not take the write in time")
        if write.error is not None:
            raise write.error
        return write.value  # type: ignore[no-any-return]

    def _commit(self, batch: list[_Write[Any]]) -> None:
        try:
            with write_turn(self.db), self.db.write() as session:
                for write in batch:
                    try:
                        with session.begin_nested():
                            write.value = write.work(session)
                    except Exception as exc:  # this write alone is rolled back; the others go on
                        write.error = exc
        except BaseException as exc:  # the commit failed: no write of the batch is stored
            for write in batch:
                write.error = write.error or exc
        finally:
            for write in batch:
                write.done.set()


_INSTANCES: weakref.WeakKeyDictionary[Any, GroupCommit] = weakref.WeakKeyDictionary()
_INSTANCES_LOCK = threading.Lock()


def group_commit(db: Database) -> GroupCommit:
    """The GroupCommit of this database (one per Database object)."""
    with _INSTANCES_LOCK:
        found = _INSTANCES.get(db)
        if found is None:
            found = _INSTANCES[db] = GroupCommit(db)
        return found
