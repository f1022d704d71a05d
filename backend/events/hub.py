"""The event hub: events are written in the caller's transaction and pushed to sockets after commit.

One path for every event, whichever process wrote it: `record()` inserts the row inside the caller's write
transaction (so a state change and its event commit together) and, on PostgreSQL, issues NOTIFY in the same
transaction. After commit, a single pump thread reads new rows in id order (woken at once locally, by
LISTEN/NOTIFY from other processes, and by a 1 s safety poll) and offers each serialised envelope to the bounded
queue of every subscriber of its account. A subscriber whose queue is full is never waited for: it lags, and its
socket's thread reads what it missed back from the store (flow control), so a client that reads keeps every
event through a burst; only one far behind (`catch_up_limit`) gets `resync`. Nothing slows the pump or senders.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, select, text
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from backend.events import refs
from backend.store.db import Database
from backend.store.models import Event, utcnow

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "bulkmsg_events"
LEVELS = ("info", "success", "warning", "error")
#: a marker for a subscriber too far behind to catch up: the client must reload its views.
RESYNC = "__resync__"
#: a lagging subscriber keeps at most this many out-of-order late events for its reader.
LATE_LIMIT = 1000
#: a subscriber further behind than this many events is told to resync rather than caught up from the store.
CATCH_UP_LIMIT = 50_000
#: a marker put in every subscriber's queue when the hub stops: the socket closes (1001, going away).
CLOSING = "__closing__"
PUMP_BATCH = 5000
SAFETY_POLL_S = 1.0
#: how long an id missing from a batch (a transaction that committed later, on PostgreSQL) is looked for.
GAP_GRACE_S = 10.0
#: after a wake, let a burst of commits gather so that one read serves them all: a sender committing a message
#: every few hundred microseconds would otherwise pay for a read per commit.
COALESCE_S = 0.02


#: a plain Core insert: about five times cheaper than adding an ORM object per event.
_EVENTS: Table = Event.__table__  # type: ignore[assignment]
_INSERT = _EVENTS.insert()
#: rows, not ORM objects, for the pump: it reads every event once and only serialises it.
_SELECT = select(Event.id, Event.account_id, Event.ts, Event.type, Event.level, Event.text, Event.data)


def _row(account_id: int, type_: str, text_: str, level: str, data: dict[str, Any] | None) -> dict[str, Any]:
    if level not in LEVELS:
        raise ValueError(f"unknown event level {level!r}")
    return {"account_id": account_id, "ts": utcnow(), "type": type_, "level": level, "text": text_, "data": data or {}}


def envelope(ev: Any, views: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The wire shape of an event (an Event or a row with the same names); `views` (refs.message_views of the
    page) puts back the message an event only names."""
    ts = ev.ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    data = refs.event_data(ev.type, ev.data, views or {})
    return {"id": ev.id, "ts": ts, "type": ev.type, "level": ev.level, "text": ev.text, "data": data}


@dataclass(eq=False)
class Subscription:
    """One socket's bounded queue of (id, payload), with flow control through the store.

    When the queue is full the subscription starts *lagging*: the pump stops queueing for it (it never waits) and
    only notes the highest id it offered; the socket's thread, once it has drained the queue, reads the missed
    events back from the store page by page (`catch_up_target` / `caught_up`) and then goes live again. Only a
    client more than the hub's `catch_up_limit` behind is told to `resync`.
    """

    account_id: int
    maxsize: int
    queue: queue.Queue[tuple[int, str] | str] = field(init=False)
    #: the queue overflowed: the reader catches up from the store up to `offered_upto`.
    lagging: bool = False
    #: the highest event id the pump offered to this subscription.
    offered_upto: int = 0
    #: events offered while lagging with an id below one already offered (PostgreSQL commits out of id order).
    late: list[tuple[int, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.queue = queue.Queue(self.maxsize)

    def offer(self, event_id: int, payload: str) -> None:
        with self._lock:
            was_upto = self.offered_upto
            self.offered_upto = max(was_upto, event_id)
            if self.lagging:
                if event_id < was_upto and len(self.late) < LATE_LIMIT:
                    self.late.append((event_id, payload))
                return
            try:
                self.queue.put_nowait((event_id, payload))
            except queue.Full:
                # Behind: stop queueing; the reader fetches the rest from the store once it has drained the queue.
                self.lagging = True
                if event_id < was_upto:
                    self.late.append((event_id, payload))

    def caught_up(self, last_sent: int) -> tuple[bool, int, list[tuple[int, str]]]:
        """Called by the reader with an empty queue: (live again?, the id to catch up to, late events to send)."""
        with self._lock:
            late, self.late = self.late, []
            if last_sent >= self.offered_upto:
                self.lagging = False
                return True, self.offered_upto, late
            return False, self.offered_upto, late

    def close(self) -> None:
        """Tell the reader the hub is stopping; it gets CLOSING next, whatever was queued."""
        with self._lock:
            while True:
                try:
                    self.queue.get_nowait()
                except queue.Empty:
                    break
            self.lagging = False
            self.queue.put_nowait(CLOSING)

    def get(self, timeout: float) -> tuple[int, str] | str | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def take(self, timeout: float, limit: int = 512) -> list[tuple[int, str] | str]:
        """Up to `limit` queued items: waits up to `timeout` for the first, then takes what is already there."""
        first = self.get(timeout)
        if first is None:
            return []
        items = [first]
        while len(items) < limit:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return items


class EventHub:
    def __init__(self, db: Database, *, subscriber_queue: int = 5000, catch_up_limit: int = CATCH_UP_LIMIT) -> None:
        self.db = db
        self.subscriber_queue = subscriber_queue
        self.catch_up_limit = catch_up_limit
        self._subs: dict[int, set[Subscription]] = {}
        self._subs_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._last_id = 0
        self._missing: dict[int, float] = {}
        #: in-transaction signals (`signal`): name -> listeners, registered once when the app is built.
        self._signals: dict[str, list[Callable[..., object]]] = {}
        sa_event.listen(db.write_sessions, "after_commit", self._after_commit)

    def on_signal(self, name: str, listener: Callable[..., object]) -> None:
        """Call `listener(session, **data)` whenever `signal(session, name, **data)` is raised (build time only)."""
        self._signals.setdefault(name, []).append(listener)

    def signal(self, session: Session, name: str, **data: Any) -> None:
        """Tell the listeners of `name`, in `session`'s transaction, that something happened: how a part reacts to
        another's change (a sequence to a reply, an opt-out, a send) without either importing the other.
        Signals are not stored and not pushed to sockets; `record` is for what people see."""
        for listener in self._signals.get(name, ()):
            listener(session, **data)

    # -- writing -------------------------------------------------------------------------------------------

    def record(
        self,
        session: Session,
        account_id: int,
        type: str,
        text_: str = "",
        *,
        level: str = "info",
        data: dict[str, Any] | None = None,
    ) -> None:
        """Add an event to `session`'s transaction; it is pushed to sockets after that transaction commits."""
        session.execute(_INSERT, _row(account_id, type, text_, level, data))
        self._mark(session)

    def record_many(self, session: Session, events: list[dict[str, Any]]) -> None:
        """Add many events (dicts of account_id, type, text, level, data) in one statement."""
        if not events:
            return
        session.execute(
            _INSERT,
            [
                _row(e["account_id"], e["type"], e.get("text", ""), e.get("level", "info"), e.get("data"))
                for e in events
            ],
        )
        self._mark(session)

    def recorded_by_sql(self, session: Session) -> None:
        """The caller inserted events in `session`'s transaction with its own bulk SQL (INSERT ... SELECT): push
        them after commit, as `record` does."""
        self._mark(session)

    def emit(self, account_id: int, type: str, text_: str = "", **kwargs: Any) -> int:
        """Record one event in its own transaction; returns its id."""
        with self.db.write() as session:
            row = _row(account_id, type, text_, kwargs.get("level", "info"), kwargs.get("data"))
            event_id: int = session.execute(_INSERT.returning(_EVENTS.c.id), row).scalar_one()
            self._mark(session)
            return event_id

    def _mark(self, session: Session) -> None:
        # Once per transaction: wake the pump after commit (and, on PostgreSQL, other processes' pumps).
        if not session.info.get("bulkmsg_events"):
            session.info["bulkmsg_events"] = True
            if self.db.dialect == "postgresql":
                session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))

    def _after_commit(self, session: Session) -> None:
        if session.info.pop("bulkmsg_events", False):
            self._wake.set()

    # -- fan-out -------------------------------------------------------------------------------------------

    def subscribe(self, account_id: int) -> Subscription:
        sub = Subscription(account_id, self.subscriber_queue)
        with self._subs_lock:
            self._subs.setdefault(account_id, set()).add(sub)
        if self._stop.is_set():
            sub.close()  # a socket that arrives while the hub stops is closed at once, not left waiting
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._subs_lock:
            subs = self._subs.get(sub.account_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.account_id]

    def subscriber_count(self) -> int:
        with self._subs_lock:
            return sum(len(s) for s in self._subs.values())

    def start(self) -> None:
        """Start the pump (and the PostgreSQL listener). Events written before this are not pushed."""
        if self._threads:
            return
        with self.db.read() as session:
            self._last_id = session.scalar(select(func.max(Event.id))) or 0
        self._stop.clear()
        pump = threading.Thread(target=self._pump_loop, name="event-pump", daemon=True)
        self._threads.append(pump)
        if self.db.dialect == "postgresql":
            listener = threading.Thread(target=self._listen_loop, name="event-listen", daemon=True)
            self._threads.append(listener)
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop the pump and close every subscriber (their sockets close with 1001)."""
        self._stop.set()
        self._wake.set()
        with self._subs_lock:
            subs = [sub for group in self._subs.values() for sub in group]
        for sub in subs:
            sub.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def pump_once(self) -> int:
        """Push every committed event not pushed yet; returns how many were pushed."""
        pushed = 0
        with self.db.read() as session:
            if not self.subscriber_count():
                # Nobody listens: only move the resume point (a socket that connects replays from the store).
                self._last_id = session.scalar(select(func.max(Event.id))) or self._last_id
                self._missing.clear()
                return 0
            if self._missing:
                found = session.execute(_SELECT.where(Event.id.in_(list(self._missing)))).all()
                for ev in found:
                    self._missing.pop(ev.id, None)
                self._fan_out(found, refs.message_views(session, found))
                pushed += len(found)
                cutoff = time.monotonic() - GAP_GRACE_S
                self._missing = {i: t for i, t in self._missing.items() if t > cutoff}
            while True:
                rows = session.execute(
                    _SELECT.where(Event.id > self._last_id).order_by(Event.id).limit(PUMP_BATCH)
                ).all()
                if not rows:
                    break
                self._note_gaps(rows)
                self._last_id = rows[-1].id
                self._fan_out(rows, refs.message_views(session, rows))
                pushed += len(rows)
                if len(rows) < PUMP_BATCH:
                    break
        return pushed

    def _note_gaps(self, rows: Iterable[Any]) -> None:
        expected = self._last_id + 1
        now = time.monotonic()
        for ev in rows:
            if ev.id > expected and ev.id - expected <= 1000:
                for missing in range(expected, ev.id):
                    self._missing[missing] = now
            expected = ev.id + 1

    def _fan_out(self, rows: Iterable[Any], views: dict[int, dict[str, Any]] | None = None) -> None:
        with self._subs_lock:
            subs = {account: list(s) for account, s in self._subs.items()}
        for ev in rows:
            targets = subs.get(ev.account_id)
            if not targets:
                continue
            payload = json.dumps(envelope(ev, views), separators=(",", ":"))
            for sub in targets:
                sub.offer(ev.id, payload)

    def _pump_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(SAFETY_POLL_S)
            if self._stop.wait(COALESCE_S):
                break
            self._wake.clear()
            try:
                self.pump_once()
            except Exception:
                log.exception("event pump failed; retrying")
                self._stop.wait(1)

    def _listen_loop(self) -> None:
        import psycopg

        url = self.db.write_engine.url.set(drivername="postgresql")
        conninfo = url.render_as_string(hide_password=False)
        while not self._stop.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except Exception:
                log.warning("event listener lost its PostgreSQL connection; reconnecting", exc_info=True)
                self._stop.wait(1)
