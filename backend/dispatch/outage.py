"""A dispatcher's outage handling: the channel cannot be reached, so nothing is claimed but a probe.

A send that finds the channel unreachable (SendError.outage) goes back to the queue without using an attempt;
the channel's state becomes `error` ("...; trying again in 8 s"), nothing is claimed until the backoff (1 s
doubling to OUTAGE_MAX_DELAY_S, at most OUTAGE_WAITING_MAX_S while a campaign waits on the channel) is over,
then one message probes the connection; the first answer restores the state and sending goes on by itself.

`OutageTracker` holds that state for one dispatcher. Its `note_*` and `claim_*` methods are called under the
dispatcher's lock; `announce` (which writes the channel's state to the store) outside it, by the coordinator.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

from sqlalchemy import select

from backend.store import states
from backend.store.models import ChannelConfig

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

#: backoff between connection attempts while a channel cannot be reached.
OUTAGE_FIRST_DELAY_S = 1.0
OUTAGE_MAX_DELAY_S = 60.0
#: the longest wait between probes while a campaign is waiting for the channel (it should go on soon after).
OUTAGE_WAITING_MAX_S = 15.0
#: the text that marks a channel state as written by an outage (read back after a restart).
RETRY_MARK = "; trying again in "


@dataclass
class Outage:
    """The channel cannot be reached: no claims until `retry_at`, then one message probes the connection."""

    reason: str
    delay_s: float
    retry_at: float
    probing: bool = False
    #: the detail last written as the channel's state (None: not announced yet).
    announced: str | None = None
    #: the channel's state and detail before the outage, restored when it answers again.
    previous: tuple[states.ChannelState, str] | None = None


def outage_delay_s(previous: float | None, cap_s: float = OUTAGE_MAX_DELAY_S) -> float:
    """Backoff between connection attempts during an outage: 1 s doubling to `cap_s`."""
    if previous is None:
        return OUTAGE_FIRST_DELAY_S
    return min(previous * 2, cap_s)


class OutageTracker:
    """One dispatcher's view of its channel's reachability (see the module docstring)."""

    def __init__(self, services: Services, account_id: int, channel: str) -> None:
        self.services = services
        self.account_id = account_id
        self.channel = channel
        self.current: Outage | None = None
        #: the outage that just ended (its previous state is restored by `announce`).
        self._ended: Outage | None = None
        #: None until the first message is sent; then whether a stale outage state (left by a process that
        #: stopped during an outage) was looked for.
        self._stale_checked: bool | None = None
        #: whether a campaign waits on this channel (the backoff is then capped at OUTAGE_WAITING_MAX_S).
        self.campaign_waiting = False
        self._announce_lock = threading.Lock()

    # -- under the dispatcher's lock ----------------------------------------------------------------------

    @property
    def reason(self) -> str | None:
        return self.current.reason if self.current is not None else None

    def blocks_start(self) -> bool:
        """Whether no queued message may start now (an outage, and no probe under way)."""
        return self.current is not None and not self.current.probing

    def probe_ready(self, now: float, idle: bool) -> int:
        """During an outage: 1 when the probe may be claimed (backoff over, nothing held), else 0."""
        outage = self.current
        assert outage is not None
        return 1 if not outage.probing and now >= outage.retry_at and idle else 0

    def retry_wait(self, now: float) -> float | None:
        """Seconds until the next probe is due, or None when no backoff runs."""
        outage = self.current
        if outage is None or outage.probing:
            return None
        return outage.retry_at - now

    def set_probing(self, probing: bool) -> None:
        if self.current is not None:
            self.current.probing = probing

    def note_outage(self, reason: str | None) -> None:
        """A send found the channel unreachable: start the outage or back off further."""
        outage = self.current
        if outage is not None and not outage.probing:
            return  # an answer from a send started before the outage began
        cap = OUTAGE_WAITING_MAX_S if self.campaign_waiting else OUTAGE_MAX_DELAY_S
        delay = outage_delay_s(outage.delay_s if outage is not None else None, cap)
        if outage is None:
            self.current = outage = Outage(reason or "The provider cannot be reached", delay, 0.0)
        outage.reason = reason or outage.reason
        outage.delay_s, outage.retry_at, outage.probing = delay, time.monotonic() + delay, False

    def note_answer(self, sent: bool) -> bool:
        """A send got an answer from the provider; True when that ended an outage."""
        ended = False
        if self.current is not None and self.current.probing:
            self.current, self._ended = None, self.current  # the channel answered: it is up again
            ended = True
        if sent and self._stale_checked is None:
            self._stale_checked = False
        return ended

    # -- outside the lock (the coordinator) ----------------------------------------------------------------

    def announce(self, lock: threading.Condition) -> None:
        """Write the channel's state when an outage began, backed off again, or ended (`channel.status`)."""
        with lock:
            outage, ended, self._ended = self.current, self._ended, None
            check_stale = self._stale_checked is False and outage is None
            if check_stale:
                self._stale_checked = True
            detail = None
            if outage is not None:
                wait = max(1, round(outage.delay_s))
                detail = f"{outage.reason}{RETRY_MARK}{wait} s"
                if detail == outage.announced:
                    detail = None
                else:
                    outage.announced = detail
            first = outage is not None and outage.previous is None and detail is not None
        manager = self.services.channels
        try:
            if first and outage is not None:
                outage.previous = self._stored_state()
            if detail is not None:
                log.warning("channel %s of account %s: %s", self.channel, self.account_id, detail)
                manager.set_state(self.account_id, self.channel, states.ERROR, detail)
            if check_stale and ended is None:
                # An outage state an earlier process left behind (it stopped before the channel answered again).
                stored = self._stored_state()
                if stored is not None and stored[0] == states.ERROR and RETRY_MARK in stored[1]:
                    ended = Outage(stored[1], 0.0, 0.0, announced=stored[1], previous=(states.READY, "Connected"))
            if ended is not None and ended.announced is not None:
                state, text = ended.previous or (states.READY, "Connected")
                if state == states.ERROR:
                    state, text = states.READY, "Connected"
                manager.set_state(self.account_id, self.channel, state, text)
                log.info("channel %s of account %s answers again", self.channel, self.account_id)
        except Exception:
            log.exception("channel %s of account %s: could not store its state", self.channel, self.account_id)

    def _stored_state(self) -> tuple[states.ChannelState, str] | None:
        with self.services.db.read() as session:
            row = session.execute(
                select(ChannelConfig.state, ChannelConfig.detail).where(
                    ChannelConfig.account_id == self.account_id, ChannelConfig.channel == self.channel
                )
            ).first()
        # The column holds only the states ChannelManager.set_state accepts.
        return (cast(states.ChannelState, row[0]), str(row[1] or "")) if row is not None else None
