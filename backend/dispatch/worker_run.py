"""A dispatcher worker's run of messages through one `channel.send_run` call (the channel's SendFeed).

A worker takes a message from the dispatcher's queue and hands it to the channel. A channel that overlaps
messages on one connection (SMTP with PIPELINING: the next message's envelope rides with this one's content)
asks the run for the worker's next message while the current one is still out (`next_ready`, which never
waits), so one worker may hold two messages at once: one started, one whose content has not left yet.

The run keeps the dispatcher's guarantees per message:
- `starting` writes the send journal's `S` line just before the message's content leaves (through the host's
  `begin`), so at most one message per worker is ever between its first byte and its answer; a message the host
  will not let start (stopping, an outage, its campaign met an error or was paused or cancelled since it was
  taken: errors in a row and pauses act on the very next message) goes back to the queue;
- `release` gives a taken message back at once (the channel will not start it: the answer before it is late);
- `answered` turns the channel's answer into an Outcome and hands it to the host (journal `O` line, recorded
  with the next batch, `_note`);
- when the channel returns (or raises), a message it took and never started goes back to the queue without
  using an attempt, and one it started but never answered is `uncertain` (it may have reached the provider).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

from backend.channels.base import Channel, OutboundMessage, SendError
from backend.dispatch.claims import ClaimedMessage
from backend.dispatch.outcomes import Outcome, outcome_of
from backend.store import states
from backend.store.models import utcnow

log = logging.getLogger(__name__)

Item = tuple[ClaimedMessage, OutboundMessage]


class RunHost(Protocol):
    """The dispatcher as a worker's run sees it (each call takes the dispatcher's lock itself)."""

    max_attempts: int

    def take_ready(self, index: int) -> Item | None:
        """Worker `index`'s next message if one may start now, else None (never waits)."""
        ...

    def may_start(self, message: ClaimedMessage) -> bool:
        """False while stopping or in an outage (a probe excepted), and for a message taken before its campaign
        met an error or was paused or cancelled (had it still been queued, it would have been given back)."""
        ...

    def begin(self, message: ClaimedMessage) -> bool:
        """Journal the start; False (logged) when the journal cannot be written."""
        ...

    def end(self, message: ClaimedMessage, outcome: Outcome, took_s: float) -> None:
        """Journal the answer and hand it to the coordinator."""
        ...

    def hand_back(self, message: ClaimedMessage) -> None:
        """A taken message that never started goes back to the queue (no attempt used)."""
        ...


class WorkerRun:
    """One `send_run` of worker `index`, starting with `first` (already taken from the queue)."""

    def __init__(self, host: RunHost, index: int, first: Item) -> None:
        self.host = host
        self.index = index
        self.first = first
        self.journal_failed = False
        self._taken: dict[int, ClaimedMessage] = {first[0].id: first[0]}
        self._started: set[int] = set()
        self._mark = time.monotonic()

    def send(self, channel_of: Callable[[], Channel]) -> None:
        """Run the channel over the messages; every message taken is settled when this returns."""
        message, outbound = self.first
        try:
            channel = channel_of()
        except Exception as exc:
            # Nothing was sent: the message is retried with backoff like any transient error.
            log.exception("channel %s could not be built for message %s", message.channel, message.id)
            self.answered(outbound, SendError(f"The channel could not be used ({type(exc).__name__})"))
            return
        reason = "the channel gave no answer"
        try:
            channel.send_run(outbound, self)
        except Exception as exc:
            # A bug or an unexpected library error after a request may have left: never re-send blindly.
            log.exception("channel %s raised while sending message %s", message.channel, message.id)
            reason = f"unexpected error: {type(exc).__name__}"
        self._settle_rest(reason)

    # -- SendFeed ---------------------------------------------------------------------------------------------
    def next_ready(self) -> OutboundMessage | None:
        item = self.host.take_ready(self.index)
        if item is None:
            return None
        self._taken[item[0].id] = item[0]
        return item[1]

    def starting(self, outbound: OutboundMessage) -> bool:
        message = self._taken[outbound.id]
        if not self.host.may_start(message):
            return False  # settled (given back) when the run ends
        if not self.host.begin(message):
            self.journal_failed = True
            return False
        self._started.add(message.id)
        return True

    def release(self, outbound: OutboundMessage) -> None:
        message = self._taken.pop(outbound.id)
        self.host.hand_back(message)

    def answered(self, outbound: OutboundMessage, result: str | SendError) -> None:
        message = self._taken.pop(outbound.id)
        self._started.discard(message.id)
        if isinstance(result, SendError):
            campaign = message.campaign_id is not None
            outcome = outcome_of(result, message.attempts, self.host.max_attempts, utcnow(), campaign=campaign)
        else:
            outcome = Outcome(states.SENT, provider_message_id=result)
        now = time.monotonic()
        took, self._mark = now - self._mark, now
        self.host.end(message, outcome, took)

    # -- the end of the run -----------------------------------------------------------------------------------
    def _settle_rest(self, reason: str) -> None:
        for message in list(self._taken.values()):
            del self._taken[message.id]
            if message.id in self._started:
                log.error("message %s was started and got no answer (%s): uncertain", message.id, reason)
                self.host.end(message, Outcome(states.UNCERTAIN, error=reason), time.monotonic() - self._mark)
            else:
                self.host.hand_back(message)
        self._started.clear()
