"""A dispatcher's send workers, and the state they share with its coordinator (under one lock, `_cv`).

`concurrency` worker threads (the channel says how many: SMTP `connections`, SMS `concurrency`, Gmail 2,
WhatsApp 1) each take the next claimed message, send it (`backend.dispatch.worker_run`: SMTP over the
worker's own connection) and hand the answer back; a channel that overlaps messages on one connection (SMTP
PIPELINING: the next message's envelope rides with this one's content) takes the worker's next message while
one is out (`take_ready`), and starts it only if it still may (`may_start`: what `_take_back` would have given
back, had it still been queued, is handed back instead). One slow or hung send holds up only its own worker. The
channel's pace spaces the starts of campaign messages (`start_gap_s`), so parallel sends stay within it.

What an answer changes for the messages still queued (`_note`): an outage gives back everything queued (and the
outage tracker backs off), an error gives back what its campaign still has queued (the campaign gate), so errors
in a row and pause requests act on the very next message.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from backend.channels.base import Channel, OutboundMessage
from backend.dispatch.claims import ClaimedMessage
from backend.dispatch.gate import CampaignGate
from backend.dispatch.hooks import IDLE_POLL_S, DispatchHooks
from backend.dispatch.outage import OutageTracker
from backend.dispatch.outcomes import Outcome
from backend.dispatch.sending import StartRecorder
from backend.dispatch.worker_run import WorkerRun
from backend.store import states

if TYPE_CHECKING:
    from backend.services import Services

#: weight of the newest send in the running mean of a send's duration (which sizes the next batch).
SEND_TIME_WEIGHT = 0.2
#: how long a claimed message's lease lasts beyond the channel's longest send.
LEASE_MARGIN_S = 30.0

#: answers not recorded yet; claimed messages given back because their send window closed, by when it reopens.
Answers = list[tuple[ClaimedMessage, Outcome]]
Reopens = dict[int, datetime]


class SendWorkers:
    """The workers of one dispatcher and the state they share with its coordinator (see the module docstring)."""

    hooks: DispatchHooks
    owner: str
    max_attempts: int

    def __init__(self, services: Services, account_id: int, channel_name: str) -> None:
        self.services = services
        self.account_id = account_id
        self.channel_name = channel_name
        self._stop = threading.Event()
        self._cv = threading.Condition()
        #: claimed, not started (first to send first).
        self._queue: deque[tuple[ClaimedMessage, OutboundMessage]] = deque()
        #: answered, not recorded yet.
        self._done: Answers = []
        #: claimed messages to give back (their campaign stopped, an error or an outage ended the batch), and of
        #: those, the ones whose send window closed before they went: when it opens again.
        self._give_back: list[int] = []
        self._reopens: Reopens = {}
        self._in_flight = 0
        self._gate = CampaignGate()
        #: the messages being sent, by id.
        self._flying: dict[int, ClaimedMessage] = {}
        #: those of them whose content has not left yet (a pipelining channel takes the next one early), and those
        #: of these that may no longer start (what `_take_back` would have given back, had they still been queued).
        self._unstarted: set[int] = set()
        self._held_back: set[int] = set()
        #: record at once (an error, a pause request or an outage must act before the next message).
        self._flush_now = False
        #: no claim before this time (monotonic) after one found nothing; wake() clears it.
        self._idle_until = 0.0
        self._workers: dict[int, threading.Thread] = {}
        self._concurrency = 1
        #: the channel's pace spaces the starts of campaign messages: next allowed start (monotonic) and gap.
        self._next_start = 0.0
        self._gap_s = 0.0
        self._outage = OutageTracker(services, account_id, channel_name)
        #: running mean of one send's duration, in seconds (None until the first send).
        self._send_s: float | None = None
        self._recorder: StartRecorder | None = None
        self._lease_s = LEASE_MARGIN_S + 60.0

    def _channel(self) -> Channel:
        return self.services.channels.instance(self.account_id, self.channel_name)

    def _adjust(self) -> None:
        """Read the channel's concurrency, lease and pace gap (cached by the manager and the hooks), and run as
        many workers as the concurrency says."""
        try:
            channel = self._channel()
            concurrency = max(1, int(channel.concurrency()))
            self._lease_s = max(float(channel.longest_send_s()), 1.0) + LEASE_MARGIN_S
        except Exception:  # not configured (any more): nothing will be claimed anyway
            concurrency = 1
        gap = self.hooks.start_gap_s(self.account_id, self.channel_name)
        with self._cv:
            self._concurrency = concurrency
            self._gap_s = gap
            for index in [i for i, t in self._workers.items() if not t.is_alive()]:
                del self._workers[index]
            for index in range(concurrency):
                if index not in self._workers and not self._stop.is_set():
                    thread = threading.Thread(
                        target=self._work,
                        args=(index,),
                        name=f"send-{self.account_id}-{self.channel_name}-{index}",
                        daemon=True,
                    )
                    self._workers[index] = thread
                    thread.start()
            self._cv.notify_all()

    def _take_back(self, which: Callable[[ClaimedMessage], bool]) -> None:
        """Move the queued messages `which` selects to the give-back list. Called under `_cv`."""
        keep: deque[tuple[ClaimedMessage, OutboundMessage]] = deque()
        for item in self._queue:
            if which(item[0]):
                self._give_back.append(item[0].id)
            else:
                keep.append(item)
        self._queue = keep
        self._held_back.update(i for i in self._unstarted if which(self._flying[i]))
        self._cv.notify_all()

    # -- the workers --------------------------------------------------------------------------------------

    def _next(self, index: int, wait: bool = True) -> tuple[ClaimedMessage, OutboundMessage] | None:
        """The next message this worker starts, or None when it is to end (`wait` False: when none may start now).
        Called under `_cv`."""
        while True:
            if self._stop.is_set() or index >= self._concurrency:
                return None
            if self._queue and not self._outage.blocks_start():
                now = time.monotonic()
                message = self._queue[0][0]
                paced = message.campaign_id is not None and self._gap_s > 0
                if not paced or now >= self._next_start:
                    if paced:
                        self._next_start = max(now, self._next_start) + self._gap_s
                    self._in_flight += 1
                    item = self._queue.popleft()
                    self._flying[item[0].id] = item[0]
                    self._unstarted.add(item[0].id)
                    if len(self._queue) < self._concurrency:
                        self._cv.notify_all()  # the coordinator claims more
                    return item
                if not wait:
                    return None
                self._cv.wait(self._next_start - now)
                continue
            if not wait:
                return None
            self._cv.wait(IDLE_POLL_S)

    def _work(self, index: int) -> None:
        recorder = self._recorder
        assert recorder is not None
        while True:
            with self._cv:
                item = self._next(index)
            if item is None:
                return
            # The channel may take this worker's next messages while this one is out (backend/dispatch/worker_run.py).
            WorkerRun(self, recorder, index, item).send(self._channel)

    # -- what a worker's run calls (backend.dispatch.worker_run.RunHost) ------------------------------------

    def take_ready(self, index: int) -> tuple[ClaimedMessage, OutboundMessage] | None:
        with self._cv:
            return self._next(index, wait=False)

    def may_start(self, message: ClaimedMessage, outbound: OutboundMessage) -> bool:
        reopens = self.hooks.window_reopens(message, outbound)  # the last check before it goes (quiet hours)
        with self._cv:
            if reopens is not None:
                self._reopens[message.id] = reopens  # given back when the run ends, due when its window opens
                return False
            if self._stop.is_set() or message.id in self._held_back or self._outage.blocks_start():
                return False
            self._unstarted.discard(message.id)
            return True

    def end(self, message: ClaimedMessage, outcome: Outcome, took_s: float) -> None:
        recorder = self._recorder
        assert recorder is not None
        try:
            recorder.journal.finished(message.id, outcome)
        except OSError:
            recorder.logs.exception("answer", "dispatcher %s could not journal an answer", recorder.owner)
        with self._cv:
            self._settled(message)
            self._done.append((message, outcome))
            if not outcome.outage:  # a send that never started says nothing of the send time
                mean = self._send_s
                self._send_s = took_s if mean is None else mean + SEND_TIME_WEIGHT * (took_s - mean)
            self._note(message, outcome)
            self._cv.notify_all()

    def hand_back(self, message: ClaimedMessage) -> None:
        with self._cv:
            self._settled(message)
            self._give_back.append(message.id)
            self._cv.notify_all()

    def _settled(self, message: ClaimedMessage) -> None:
        """`message` is no longer this dispatcher's to send. Called under `_cv`."""
        self._in_flight -= 1
        self._flying.pop(message.id, None)
        self._unstarted.discard(message.id)
        self._held_back.discard(message.id)

    def _note(self, message: ClaimedMessage, outcome: Outcome) -> None:
        """What a result changes for the messages still queued. Called under `_cv`."""
        if outcome.outage:
            # A campaign waiting on the channel has its probes at most OUTAGE_WAITING_MAX_S apart.
            waiting = message.campaign_id is not None or any(m.campaign_id is not None for m, _ in self._queue)
            self._outage.campaign_waiting = waiting
            self._outage.note_outage(outcome.error)
            self._take_back(lambda m: True)
            self._flush_now = True
            return
        if self._outage.note_answer(outcome.status == states.SENT):
            self._flush_now = True
        self._gate.answered(message.campaign_id, outcome.status == states.SENT)
        if outcome.status != states.SENT:
            # Errors in a row and pause requests act on the very next message of the campaign.
            if message.campaign_id is not None:
                self._take_back(lambda m: m.campaign_id == message.campaign_id)
            self._flush_now = True
