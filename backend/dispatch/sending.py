"""A send's start, recorded just before its content goes out (the hook a dispatcher worker gives each message).

A send counts as started when its content is about to leave for the provider (the SMTP DATA payload, the HTTP
request body, the WhatsApp send click), not when the connection opens: a crash before that point queues the
message again, and only a crash after it leaves the message `uncertain`. A channel whose `announces_content` is
true calls `OutboundMessage.content_going_out()` at that point itself (one hook, whatever its connection does:
one message per connection or several pipelined: `backend.dispatch.worker_run`); for any other channel the
start is recorded before `send`.

Where the start is recorded (`StartRecorder`):
- in the store, where several machines may share it (PostgreSQL): `send_started_at`, in a short commit of its
  own fenced on the lease, so that a surviving machine can queue a lost machine's unstarted claims again
  (`backend.dispatch.recovery`). A lease lost meanwhile (the message was taken back) stops the send;
- in this dispatcher's send journal (`backend.dispatch.journal`), on every database: on SQLite (one machine)
  the journal alone tells a started send from one that never started.
When the start cannot be recorded (the disk is full, the database is away) nothing is sent: the send ends in a
SendError(outage=True), so the message goes back to `queued` without using an attempt and the channel's state
says what it waits for.
"""

from __future__ import annotations

import errno
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backend.channels.base import SendError
from backend.dispatch.claims import mark_started
from backend.dispatch.journal import SendJournal
from backend.store.models import utcnow

if TYPE_CHECKING:
    from backend.store.db import Database

log = logging.getLogger(__name__)

WAITING_FOR_DISK = "Waiting for the disk: the send journal cannot be written"
WAITING_FOR_DATABASE = "Waiting for the database: the start of a send cannot be recorded"
LEASE_LOST = "Waiting for the database: this message was taken back while it waited"
#: the same failure is logged with its traceback once per this many seconds.
LOG_EVERY_S = 60.0


def starts_in_store(db: Database) -> bool:
    """Whether the store records each send's start (every database but SQLite, which one machine uses: there
    the send journal alone tells)."""
    return db.dialect != "sqlite"


def disk_reason(exc: OSError) -> str:
    """The words for a journal that cannot be written."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{WAITING_FOR_DISK} (the disk is full)"
    return f"{WAITING_FOR_DISK} ({exc.strerror or type(exc).__name__})"


class OnceLog:
    """Logs a recurring failure with its traceback once per LOG_EVERY_S, and a count of the ones in between."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def exception(self, key: str, text: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -LOG_EVERY_S) < LOG_EVERY_S:
            self._skipped[key] = self._skipped.get(key, 0) + 1
            return
        skipped = self._skipped.pop(key, 0)
        self._last[key] = now
        suffix = f" ({skipped} more since the last report)" if skipped else ""
        log.exception(text + suffix, *args)


class StartRecorder:
    """Records that a message's content is about to go out (see the module docstring). Thread-safe."""

    def __init__(self, db: Database, owner: str, journal: SendJournal, *, in_store: bool) -> None:
        self.db = db
        self.owner = owner
        self.journal = journal
        self.in_store = in_store
        self.logs = OnceLog()

    def record(self, message_id: int) -> None:
        """Raises SendError(outage=True) when the start cannot be recorded (then nothing may be sent)."""
        if self.in_store:
            try:
                with self.db.write() as session:
                    ours = mark_started(session, message_id, self.owner, utcnow())
            except Exception as exc:
                self.logs.exception("store", "dispatcher %s cannot record a send's start", self.owner)
                raise SendError(f"{WAITING_FOR_DATABASE} ({type(exc).__name__})", outage=True) from None
            if not ours:
                raise SendError(LEASE_LOST, outage=True)
        try:
            self.journal.started(message_id)
        except OSError as exc:
            self.logs.exception("journal", "dispatcher %s cannot write its send journal", self.owner)
            if not self.in_store:
                # Without the journal a crash could not tell this send from one never started: do not send.
                raise SendError(disk_reason(exc), outage=True) from None
            # The store knows it started; the journal only keeps the answer until the batch commits.


@dataclass
class StartHook:
    """The `content_going_out` hook of one message (`backend.dispatch.worker_run` gives each its own): records
    the start once; `done` once recorded (the content may then have left)."""

    recorder: StartRecorder
    message_id: int
    done: bool = False

    def __call__(self) -> None:
        if not self.done:
            self.recorder.record(self.message_id)
            self.done = True
