"""A dispatcher worker's run of messages through one `channel.send_run` call (the channel's SendFeed).

A worker takes a message from the dispatcher's queue and hands it to the channel. A channel that overlaps
messages on one connection (SMTP with PIPELINING: the next message's envelope rides with this one's content)
asks the run for the worker's next message while the current one is still out (`next_ready`, which never
waits), so one worker may hold two messages at once: one started, one whose content has not left yet.

The run keeps the dispatcher's guarantees per message:
- every message goes to the channel with its own `content_going_out` hook (`backend.dispatch.sending`: the
  start recorded in the store on PostgreSQL and in the send journal). A channel that `announces_content` calls
  it just before that message's content leaves (SMTP: right before its payload, also inside a pipelined write);
  for any other channel `starting` calls it. When the start cannot be recorded, the hook raises
  SendError(outage=True) and the message's content does not go: it is answered with that outage (queued again,
  no attempt used, the channel waits), so at most one message per worker is ever between its first byte and
  its answer;
- `starting` refuses a message the host will not let start (stopping, an outage, its campaign met an error or
  was paused or cancelled since it was taken: errors in a row and pauses act on the very next message; its send
  window closed while it waited): it goes back to the queue;
- `release` gives a taken message back at once (the channel will not start it: the answer before it is late);
- `answered` turns the channel's answer into an Outcome and hands it to the host (journal `O` line, recorded
  with the next batch, `_note`);
- when the channel returns (or raises), a message it took whose start was never recorded goes back to the queue
  (after an unexpected error: retried like a transient error), and one whose start was recorded but never
  answered is `uncertain` (it may have reached the provider).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from backend.channels.base import Channel, OutboundMessage, SendError
from backend.dispatch.claims import ClaimedMessage
from backend.dispatch.outcomes import Outcome, outcome_of
from backend.dispatch.sending import StartHook, StartRecorder
from backend.store import states
from backend.store.models import utcnow

log = logging.getLogger(__name__)

Item = tuple[ClaimedMessage, OutboundMessage]


class RunHost(Protocol):
    """The dispatcher's workers as a run sees them (each call takes the dispatcher's lock itself)."""

    max_attempts: int

    def take_ready(self, index: int) -> Item | None:
        """Worker `index`'s next message if one may start now, else None (never waits)."""
        ...

    def may_start(self, message: ClaimedMessage, outbound: OutboundMessage) -> bool:
        """False while stopping or in an outage (a probe excepted), for a message taken before its campaign
        met an error or was paused or cancelled (had it still been queued, it would have been given back), and
        for one whose send window closed while it waited (it is given back to wait for the next opening)."""
        ...

    def end(self, message: ClaimedMessage, outcome: Outcome, took_s: float) -> None:
        """Journal the answer and hand it to the coordinator."""
        ...

    def hand_back(self, message: ClaimedMessage) -> None:
        """A taken message that never started goes back to the queue (no attempt used)."""
        ...


class WorkerRun:
    """One `send_run` of worker `index`, starting with `first` (already taken from the queue)."""

    def __init__(self, host: RunHost, recorder: StartRecorder, index: int, first: Item) -> None:
        self.host = host
        self.recorder = recorder
        self.index = index
        self.first = first
        self._announces = False
        self._taken: dict[int, ClaimedMessage] = {}
        self._hooks: dict[int, StartHook] = {}
        self._mark = time.monotonic()

    def send(self, channel_of: Callable[[], Channel]) -> None:
        """Run the channel over the messages; every message taken is settled when this returns."""
        message, outbound = self.first
        try:
            channel = channel_of()
        except Exception as exc:  # the channel could not even be had (its settings went away)
            self.recorder.logs.exception("channel", "dispatcher %s has no channel to send with", self.recorder.owner)
            outcome = Outcome(states.QUEUED, error=f"The channel is not available ({exc})", outage=True)
            self._end(message, outcome)
            return
        self._announces = channel.announces_content
        reason: str | None = None
        try:
            channel.send_run(self._taking(message, outbound), self)
        except Exception as exc:
            # A bug or an unexpected library error after a request may have left: never re-send blindly.
            log.exception("channel %s raised while sending message %s", message.channel, message.id)
            reason = f"unexpected error: {type(exc).__name__}"
        self._settle_rest(reason)

    def _taking(self, message: ClaimedMessage, outbound: OutboundMessage) -> OutboundMessage:
        """`outbound` with its own start hook, the message now held by this run."""
        hook = StartHook(self.recorder, message.id)
        self._taken[message.id] = message
        self._hooks[message.id] = hook
        return replace(outbound, content_going_out=hook)

    # -- SendFeed ---------------------------------------------------------------------------------------------
    def next_ready(self) -> OutboundMessage | None:
        item = self.host.take_ready(self.index)
        return self._taking(*item) if item is not None else None

    def starting(self, outbound: OutboundMessage) -> bool:
        message = self._taken[outbound.id]
        if not self.host.may_start(message, outbound):
            return False  # settled (given back) when the run ends
        if not self._announces:
            try:
                self._hooks[message.id]()
            except SendError as exc:  # the start cannot be recorded: nothing may be sent
                self.answered(outbound, exc)
                return False
        return True

    def release(self, outbound: OutboundMessage) -> None:
        message = self._taken.pop(outbound.id)
        self._hooks.pop(message.id, None)
        self.host.hand_back(message)

    def answered(self, outbound: OutboundMessage, result: str | SendError) -> None:
        message = self._taken.pop(outbound.id)
        self._hooks.pop(message.id, None)
        if isinstance(result, SendError):
            self._end(message, self._outcome(message, result))
        else:
            self._end(message, Outcome(states.SENT, provider_message_id=result))

    def _outcome(self, message: ClaimedMessage, error: SendError) -> Outcome:
        campaign = message.campaign_id is not None
        return outcome_of(error, message.attempts, self.host.max_attempts, utcnow(), campaign=campaign)

    # -- the end of the run -----------------------------------------------------------------------------------
    def _end(self, message: ClaimedMessage, outcome: Outcome) -> None:
        now = time.monotonic()
        took, self._mark = now - self._mark, now
        self.host.end(message, outcome, took)

    def _settle_rest(self, error: str | None) -> None:
        """Settle what the channel took and never answered; `error`: why the channel raised (None: it returned)."""
        for message in list(self._taken.values()):
            del self._taken[message.id]
            hook = self._hooks.pop(message.id)
            if hook.done:
                reason = error or "the channel gave no answer"
                log.error("message %s was started and got no answer (%s): uncertain", message.id, reason)
                self._end(message, Outcome(states.UNCERTAIN, error=reason))
            elif error is not None and message.id == self.first[0].id:
                # The channel failed on the message it was given before its content left: retried with backoff.
                self._end(message, self._outcome(message, SendError(error)))
            else:
                self.host.hand_back(message)
