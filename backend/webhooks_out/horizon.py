"""How far an event-log cursor may move without skipping an event that commits late (PostgreSQL).

On PostgreSQL an event's id is taken when it is inserted, so a transaction that took id 100 may commit after one
that took id 101: a cursor moved to 101 would skip 100 for good. `Horizon.safe_upto` walks the ids after a cursor
(every account's: ids are shared) and stops before the first missing id seen less than `grace_s` ago; a missing
id older than that is a rolled-back insert (sequences never give an id back) and is passed. The grace is the
event hub's (`GAP_GRACE_S`): write transactions are short by design. On SQLite, writers take turns
(`BEGIN IMMEDIATE`), ids commit in order and every id after the cursor is safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.events.hub import GAP_GRACE_S
from backend.store.models import Event

#: ids read per look; a cursor further behind moves on in several passes.
SCAN = 5000
#: at most this many ids of one gap are remembered (a larger jump in the sequence waits as one).
GAP_LIMIT = 1000


class Horizon:
    def __init__(self, grace_s: float = GAP_GRACE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.grace_s = grace_s
        self.clock = clock
        self._first_seen: dict[int, float] = {}
        self._lock = threading.Lock()

    def safe_upto(self, session: Session, after: int) -> int:
        """The highest id the cursor at `after` may move to (`after` itself when nothing after it is safe)."""
        ids = session.scalars(select(Event.id).where(Event.id > after).order_by(Event.id).limit(SCAN)).all()
        now = self.clock()
        upto, expected = after, after + 1
        with self._lock:
            for id_ in ids:
                if id_ > expected and self._young_gap(range(expected, min(id_, expected + GAP_LIMIT)), now):
                    break
                upto, expected = id_, id_ + 1
            self._forget(now)
        return upto

    def _young_gap(self, missing: range, now: float) -> bool:
        young = False
        for id_ in missing:
            if now - self._first_seen.setdefault(id_, now) < self.grace_s:
                young = True
        return young

    def _forget(self, now: float) -> None:
        if len(self._first_seen) > 10 * GAP_LIMIT:
            cutoff = now - 10 * self.grace_s
            self._first_seen = {i: t for i, t in self._first_seen.items() if t > cutoff}
