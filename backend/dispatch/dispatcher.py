"""One dispatcher per (account, channel): claim -> channel.send -> record -> events.

The channel only sends; the dispatcher records the outcomes (fenced on its lease, `record_results`), and asks
its hooks about pacing and campaign bookkeeping.

Concurrency (DESIGN section 5). A coordinator thread does every store write; `concurrency` worker threads
(the channel says how many: SMTP `connections`, SMS `concurrency`, Gmail 2, WhatsApp 1) each take the next
claimed message, send it (SMTP: over the worker's own connection) and hand the answer back; a channel that
overlaps messages on one connection (SMTP PIPELINING) takes the worker's next message while one is out
(backend/dispatch/worker_run.py). One slow or hung send holds up only its own worker. The channel's pace spaces
the starts of campaign messages (`start_gap_s`), so parallel sends stay within it.

Batches. A write transaction per message costs about as much as an SMTP send, so the coordinator works in
batches: one write transaction records the answers that arrived, gives back what it held but will not start,
renews the leases it holds, and claims the next messages, conversation messages first (a support reply never
waits behind a campaign's queue), then campaign messages, running campaigns taking turns batch by batch. It
claims when the queue runs shorter than the number of workers, as many as the workers send within
FLUSH_INTERVAL_S at the recent send time (at most MAX_BATCH), and one message while a campaign's own pace
applies (the hooks say). Answers are recorded within FLUSH_INTERVAL_S; any answer but `sent` is recorded at once
and gives back what its campaign still has queued (errors in a row and pause requests act on the very next
message), as is a batch whose claim was under way meanwhile; a campaign whose last answer was an error sends one
message at a time until one goes through, so that errors in a row pause it at its limit however many workers
there are; a campaign paused or cancelled in this process (`campaign_stopped`) starts none of its queued messages.

Leases. A claimed message's lease lasts the channel's longest send plus LEASE_MARGIN_S and the coordinator renews
every lease it holds RENEWALS_PER_LEASE times per lease length, so a live process's sends never expire, however
long a send takes or a message waits in the queue.

Outages. A send that finds the channel unreachable (SendError.outage) goes back to the queue without using an
attempt; the channel's state becomes `error` ("...; trying again in 8 s"), nothing is claimed until the backoff
(1 s doubling to 60 s) is over, then one message probes the connection; the first answer restores the state and
sending goes on by itself.

Stopping. After `request_stop` no send starts; the sends in flight finish (within their timeout) and are recorded,
and what is held but not started goes back to the queue.

Crash safety. Each worker writes each start and each answer to the dispatcher's send journal
(`backend.dispatch.journal`) before the store knows. After a crash, recovery reads the journal: claimed messages
never started go back to the queue, answered ones are recorded, and only those in flight (at most one per worker)
are `uncertain`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.channels.base import Channel, OutboundMessage
from backend.channels.registry import channel_class
from backend.dispatch.claims import ClaimedMessage, claim_next, release, renew_leases
from backend.dispatch.hooks import IDLE_POLL_S, MAX_BATCH, DispatchHooks, NoHooks
from backend.dispatch.journal import SendJournal, journal_dir
from backend.dispatch.outcomes import Outcome, record_results
from backend.dispatch.worker_run import WorkerRun
from backend.store import states
from backend.store.models import ChannelConfig, utcnow
from backend.store.process import worker_id

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

#: how long a claimed message's lease lasts beyond the channel's longest send.
LEASE_MARGIN_S = 30.0
#: the coordinator renews the leases it holds this many times per lease length.
RENEWALS_PER_LEASE = 4
#: how often the channel's concurrency, lease length and pace gap are read again.
ADJUST_S = 2.0
#: backoff between connection attempts while a channel cannot be reached.
OUTAGE_FIRST_DELAY_S = 1.0
OUTAGE_MAX_DELAY_S = 60.0
#: longest time between a batch's claim and its commit (results and pauses take effect this fast).
FLUSH_INTERVAL_S = 0.1
#: weight of the newest send in the running mean of a send's duration (which sizes the next batch).
SEND_TIME_WEIGHT = 0.2
#: a stopping dispatcher that cannot reach the store gives up after this many tries (recovery takes over).
STOP_ATTEMPTS = 3


def batch_size(limit: int, send_s: float | None, concurrency: int = 1) -> int:
    """The next claim's size: what `concurrency` workers send in FLUSH_INTERVAL_S at the recent send time (one
    per worker before the first send, at least two per worker after), within `limit`."""
    if send_s is None:
        return max(1, min(limit, MAX_BATCH, concurrency))
    fits = int(FLUSH_INTERVAL_S / max(send_s, 1e-6)) * concurrency
    # Two per worker at least: a worker that finishes finds the next message while the coordinator claims more.
    return max(1, min(limit, MAX_BATCH, max(fits, 2 * concurrency)))


def _first_of_each(claimed: list[ClaimedMessage], campaigns: set[int]) -> list[ClaimedMessage]:
    """`claimed` with only the first message of each campaign in `campaigns`."""
    seen: set[int] = set()
    keep = []
    for message in claimed:
        campaign_id = message.campaign_id
        if campaign_id is not None and campaign_id in campaigns:
            if campaign_id in seen:
                continue
            seen.add(campaign_id)
        keep.append(message)
    return keep


@dataclass
class _Outage:
    """The channel cannot be reached: no claims until `retry_at`, then one message probes the connection."""

    reason: str
    delay_s: float
    retry_at: float
    probing: bool = False
    #: the detail last written as the channel's state (None: not announced yet).
    announced: str | None = None
    #: the channel's state and detail before the outage, restored when it answers again.
    previous: tuple[states.ChannelState, str] | None = None


def outage_delay_s(previous: float | None) -> float:
    """Backoff between connection attempts during an outage: 1 s doubling to OUTAGE_MAX_DELAY_S."""
    if previous is None:
        return OUTAGE_FIRST_DELAY_S
    return min(previous * 2, OUTAGE_MAX_DELAY_S)


class Dispatcher:
    """A coordinator thread (claims and records, one write transaction per batch) and `concurrency` workers
    (each sends one message at a time over its own connection, journaling each start and answer)."""

    def __init__(
        self,
        services: Services,
        account_id: int,
        channel_name: str,
        hooks: DispatchHooks | None = None,
    ) -> None:
        self.services = services
        self.db = services.db
        self.account_id = account_id
        self.channel_name = channel_name
        self.hooks: DispatchHooks = hooks or NoHooks()
        self.owner = worker_id(f"dispatch-{account_id}-{channel_name}")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_session: Session | None = None
        #: everything below is shared between the coordinator and the workers, guarded by `_cv`.
        self._cv = threading.Condition()
        #: claimed, not started (first to send first).
        self._queue: deque[tuple[ClaimedMessage, OutboundMessage]] = deque()
        #: answered, not recorded yet.
        self._done: list[tuple[ClaimedMessage, Outcome]] = []
        #: claimed messages to give back (their campaign stopped, an error or an outage ended the batch).
        self._give_back: list[int] = []
        self._in_flight = 0
        #: campaigns with an error whose messages still in flight are to be recorded before more of it starts.
        self._erring: set[int] = set()
        #: campaigns whose last answer was an error: one message of each at a time until one is sent, so that a
        #: run of errors pauses the campaign at its limit, not up to `concurrency` messages later.
        self._error_run: set[int] = set()
        #: campaigns stopped (paused, cancelled) since the coordinator began its current batch: a claim that was
        #: under way then may hold their messages.
        self._stopped_meanwhile: set[int] = set()
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
        self._outage: _Outage | None = None
        #: the outage that just ended (its previous state is restored by the coordinator).
        self._ended_outage: _Outage | None = None
        #: None until the first message is sent; then whether a stale outage state (left by a process that
        #: stopped during an outage) was looked for.
        self._stale_checked: bool | None = None
        #: running mean of one send's duration, in seconds (None until the first send).
        self._send_s: float | None = None
        #: the campaign the last batch started with (running campaigns take turns, batch by batch).
        self._last_campaign: int | None = None
        self._journal: SendJournal | None = None
        self._lease_s = LEASE_MARGIN_S + 60.0

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"dispatch-{self.account_id}-{self.channel_name}", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        with self._cv:
            self._idle_until = 0.0
            self._cv.notify_all()

    def campaign_stopped(self, campaign_id: int) -> None:
        """A campaign was paused or cancelled: none of its claimed messages starts; they are given back."""
        with self._cv:
            self._stopped_meanwhile.add(campaign_id)
            self._error_run.discard(campaign_id)  # resumed, it starts afresh
            self._take_back(lambda m: m.campaign_id == campaign_id)

    def request_stop(self) -> None:
        """No send starts after this call; sends in flight finish and are recorded (see stop)."""
        self._stop.set()
        with self._cv:
            self._cv.notify_all()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the sends in flight (if any) are recorded; what is held but not started goes back."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self._lease_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def outage(self) -> str | None:
        """The reason the channel cannot be reached now, or None."""
        with self._cv:
            return self._outage.reason if self._outage is not None else None

    # -- the coordinator ----------------------------------------------------------------------------------

    def _session(self) -> Session:
        """This dispatcher's own write session, one transaction per batch (`db.write()` semantics: BEGIN
        IMMEDIATE on SQLite, commit on success, rollback on error), kept across batches so that each does not
        pay for building one. Only the coordinator uses it; it holds no ORM objects between batches."""
        if self._write_session is None:
            self._write_session = self.db.write_sessions()
        else:
            self._write_session.expunge_all()
        return self._write_session

    def _channel(self) -> Channel:
        return self.services.channels.instance(self.account_id, self.channel_name)

    def _run(self) -> None:
        channel_cls = channel_class(self.channel_name)
        self.max_attempts = channel_cls.max_attempts
        self._lease_s = float(channel_cls.send_timeout_s) + LEASE_MARGIN_S
        directory = journal_dir(self.services.config.data_dir)
        try:
            journal = SendJournal(directory, self.owner)
        except OSError:
            # Sending without a journal would break the crash guarantee; the pool tries again in a few seconds.
            log.exception("dispatcher %s cannot open its send journal in %s; not sending", self.owner, directory)
            return
        self._journal = journal
        clean = False
        try:
            clean = self._loop(journal)
        finally:
            self._stop.set()
            with self._cv:
                self._cv.notify_all()
            self._drop_session()
            journal.close(remove=clean and journal.open_count == 0)

    def _drop_session(self) -> None:
        session, self._write_session = self._write_session, None
        if session is not None:
            session.close()

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

    def _loop(self, journal: SendJournal) -> bool:
        """Claim and record until stopped; True when everything held was recorded or given back."""
        last_flush = last_renew = last_adjust = float("-inf")
        failures = 0
        while True:
            now = time.monotonic()
            if now - last_adjust >= ADJUST_S and not self._stop.is_set():
                self._adjust()
                last_adjust = now
            with self._cv:
                while True:
                    now = time.monotonic()
                    stopping = self._stop.is_set()
                    renew_due = now - last_renew >= self._lease_s / RENEWALS_PER_LEASE
                    wait = self._due_in(now, last_flush, stopping, renew_due)
                    if wait <= 0:
                        break
                    if stopping and self._in_flight == 0 and not self._done and not self._queue:
                        return True
                    self._cv.wait(min(wait, IDLE_POLL_S, max(last_adjust + ADJUST_S - now, 0.01)))
                    if time.monotonic() - last_adjust >= ADJUST_S and not stopping:
                        break
                done, self._done = self._done, []
                give_back, self._give_back = self._give_back, []
                if stopping:
                    give_back += [m.id for m, _ in self._queue]
                    self._queue.clear()
                self._flush_now = False
                self._stopped_meanwhile.clear()
                want = 0 if stopping else self._claim_wanted(now)
                renew = renew_due and (self._in_flight > 0 or bool(self._queue))
                probe = self._outage is not None and want > 0
                if probe and self._outage is not None:
                    self._outage.probing = True
            if not done and not give_back and not want and not renew:
                continue  # woken to adjust only
            try:
                fresh = self._flush(done, give_back, want, renew)
            except Exception:
                log.exception("dispatcher %s could not write to the store; retrying", self.owner)
                self._drop_session()
                with self._cv:
                    self._done[:0] = done
                    self._give_back[:0] = give_back
                    if probe and self._outage is not None:
                        self._outage.probing = False
                failures += 1
                if stopping and failures >= STOP_ATTEMPTS:
                    return False  # the journal stays: recovery settles these after the process ends
                time.sleep(1)  # the store is away: try again in a moment
                continue
            failures = 0
            journal.committed([m.id for m, _ in done])
            last_flush = time.monotonic()
            if renew:
                last_renew = last_flush
            self._announce()
            with self._cv:
                if probe and not fresh and self._outage is not None:
                    self._outage.probing = False
                if want and not fresh:
                    wait_s = self.hooks.idle_wait_s(self.account_id, self.channel_name)
                    self._idle_until = time.monotonic() + min(max(wait_s, 0.01), IDLE_POLL_S)
                elif done:
                    self._idle_until = 0.0  # recorded results may let a held-back campaign go on
                if fresh:
                    self._enqueue(fresh)
                self._cv.notify_all()

    def _enqueue(self, fresh: list[tuple[ClaimedMessage, OutboundMessage]]) -> None:
        """Queue a batch just claimed, but give back what may not start now: everything when stopping, and the
        messages of campaigns that met an error or were stopped while the claim was under way (their errors in a
        row and their pause act on the very next message). Called under `_cv`."""
        held = self._erring | self._stopped_meanwhile
        for item in fresh:
            campaign_id = item[0].campaign_id
            if self._stop.is_set() or (campaign_id is not None and campaign_id in held):
                self._give_back.append(item[0].id)
            else:
                self._queue.append(item)

    def _due_in(self, now: float, last_flush: float, stopping: bool, renew_due: bool) -> float:
        """Seconds until the coordinator has work (<= 0: now). Called under `_cv`."""
        if self._give_back or (self._flush_now and self._done) or (stopping and self._queue):
            return 0.0
        if self._done and not self._queue and not self._in_flight:
            return 0.0  # nothing else to wait for: record (and claim) now
        waits = [IDLE_POLL_S]
        if self._done:
            waits.append(last_flush + FLUSH_INTERVAL_S - now)
        if renew_due and (self._in_flight or self._queue):
            return 0.0
        if not stopping and self._claim_wanted(now):
            return 0.0
        if not stopping:
            if self._outage is not None and not self._outage.probing:
                waits.append(self._outage.retry_at - now)
            elif self._idle_until > now:
                waits.append(self._idle_until - now)
        return min(waits)

    def _claim_wanted(self, now: float) -> int:
        """How many messages to claim now (0: none). Called under `_cv`."""
        if now < self._idle_until:
            return 0
        outage = self._outage
        if outage is not None:
            # One message probes the connection once the backoff is over; nothing else is claimed meanwhile.
            ready = not outage.probing and now >= outage.retry_at and not self._in_flight and not self._queue
            return 1 if ready else 0
        if len(self._queue) >= self._concurrency:
            return 0  # every worker has something to start
        return max(0, batch_size(MAX_BATCH, self._send_s, self._concurrency) - len(self._queue))

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

    def _flush(
        self, done: list[tuple[ClaimedMessage, Outcome]], give_back: list[int], want: int, renew: bool
    ) -> list[tuple[ClaimedMessage, OutboundMessage]]:
        """One write transaction: record `done`, give back `give_back`, renew the leases held, claim up to
        `want` messages."""
        session = self._session()
        with session.begin():
            record_results(self.services, session, self.owner, self.hooks, done)
            release(session, self.owner, give_back, utcnow())
            if renew:
                renew_leases(session, self.owner, utcnow() + timedelta(seconds=self._lease_s))
            if not want:
                return []
            # Asked after the results were recorded, so that their sends already count for the pace.
            campaigns_allowed = self.hooks.seconds_until_next(self.account_id, self.channel_name) <= 0
            size = max(1, min(want, self.hooks.batch_limit(self.account_id, self.channel_name)))
            exclude = set(self.hooks.excluded_campaigns(self.account_id, self.channel_name))
            with self._cv:  # campaigns with a message queued, in flight or answered but not recorded yet
                out = [m.campaign_id for m, _ in self._queue]
                out += [m.campaign_id for m in self._flying.values()]
                out += [m.campaign_id for m, _ in self._done]
                # A campaign with an error not yet recorded while others of it are in flight waits for them: its
                # errors in a row are counted before more of it starts.
                erring = {m.campaign_id for m in self._flying.values()} | {m.campaign_id for m, _ in self._done}
                self._erring &= erring
                exclude |= self._erring
                one_at_a_time = set(self._error_run)
            outstanding = Counter(cid for cid in out if cid is not None)
            exclude |= one_at_a_time & set(outstanding)
            if outstanding:
                # A pace that pauses after each message waits for that message's result before the next claim.
                if self.hooks.sequential(self.account_id, self.channel_name):
                    campaigns_allowed = False
                exclude |= self.hooks.paced_campaigns(dict(outstanding))
            claimed = claim_next(
                session.connection(),
                account_id=self.account_id,
                channel=self.channel_name,
                owner=self.owner,
                now=utcnow(),
                lease_s=self._lease_s,
                limit=size,
                exclude_campaigns=tuple(sorted(exclude)),
                campaigns=campaigns_allowed,
                after_campaign=self._last_campaign,
            )
            first_campaign = next((m.campaign_id for m in claimed if m.campaign_id is not None), None)
            if first_campaign is not None:
                self._last_campaign = first_campaign  # the next batch starts with the next running campaign
            if len(claimed) > 1:
                keep = self.hooks.trim_batch(session, _first_of_each(claimed, one_at_a_time))
                if len(keep) < len(claimed):
                    kept = {m.id for m in keep}
                    release(session, self.owner, [m.id for m in claimed if m.id not in kept], utcnow())
                claimed = keep
            return [(m, self.hooks.outbound(session, m)) for m in claimed]

    def _announce(self) -> None:
        """Write the channel's state when an outage began, backed off again, or ended (`channel.status`)."""
        with self._cv:
            outage, ended, self._ended_outage = self._outage, self._ended_outage, None
            check_stale = self._stale_checked is False and outage is None
            if check_stale:
                self._stale_checked = True
            detail = None
            if outage is not None:
                wait = max(1, round(outage.delay_s))
                detail = f"{outage.reason}; trying again in {wait} s"
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
                log.warning("channel %s of account %s: %s", self.channel_name, self.account_id, detail)
                manager.set_state(self.account_id, self.channel_name, states.ERROR, detail)
            if check_stale and ended is None:
                # An outage state an earlier process left behind (it stopped before the channel answered again).
                stored = self._stored_state()
                if stored is not None and stored[0] == states.ERROR and "; trying again in " in stored[1]:
                    ended = _Outage(stored[1], 0.0, 0.0, announced=stored[1], previous=(states.READY, "Connected"))
            if ended is not None and ended.announced is not None:
                state, text = ended.previous or (states.READY, "Connected")
                if state == states.ERROR:
                    state, text = states.READY, "Connected"
                manager.set_state(self.account_id, self.channel_name, state, text)
                log.info("channel %s of account %s answers again", self.channel_name, self.account_id)
        except Exception:
            log.exception("dispatcher %s could not store the channel's state", self.owner)

    def _stored_state(self) -> tuple[states.ChannelState, str] | None:
        with self.db.read() as session:
            row = session.execute(
                select(ChannelConfig.state, ChannelConfig.detail).where(
                    ChannelConfig.account_id == self.account_id, ChannelConfig.channel == self.channel_name
                )
            ).first()
        # The column holds only the states ChannelManager.set_state accepts.
        return (cast(states.ChannelState, row[0]), str(row[1] or "")) if row is not None else None

    # -- the workers --------------------------------------------------------------------------------------

    def _next(self, index: int, wait: bool = True) -> tuple[ClaimedMessage, OutboundMessage] | None:
        """The next message this worker starts, or None when it is to end (`wait` False: when none may start now).
        Called under `_cv`."""
        while True:
            if self._stop.is_set() or index >= self._concurrency:
                return None
            outage = self._outage
            if self._queue and (outage is None or outage.probing):
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
        assert self._journal is not None
        while True:
            with self._cv:
                item = self._next(index)
            if item is None:
                return
            # The channel may take this worker's next messages while this one is out (backend/dispatch/worker_run.py).
            run = WorkerRun(self, index, item)
            run.send(self._channel)
            if run.journal_failed:
                self._stop.wait(1)

    # -- what a worker's run calls (backend.dispatch.worker_run.RunHost) ------------------------------------

    def take_ready(self, index: int) -> tuple[ClaimedMessage, OutboundMessage] | None:
        with self._cv:
            return self._next(index, wait=False)

    def may_start(self, message: ClaimedMessage) -> bool:
        with self._cv:
            if self._stop.is_set() or message.id in self._held_back:
                return False
            if self._outage is not None and not self._outage.probing:
                return False
            self._unstarted.discard(message.id)
            return True

    def begin(self, message: ClaimedMessage) -> bool:
        assert self._journal is not None
        try:
            self._journal.started(message.id)
        except OSError:
            # Without the journal a crash could not tell this send from one never started: do not send.
            log.exception("dispatcher %s cannot write its send journal; holding back", self.owner)
            return False
        return True

    def end(self, message: ClaimedMessage, outcome: Outcome, took: float) -> None:
        assert self._journal is not None
        try:
            self._journal.finished(message.id, outcome)
        except OSError:
            log.exception("dispatcher %s could not journal the answer for message %s", self.owner, message.id)
        with self._cv:
            self._in_flight -= 1
            self._flying.pop(message.id, None)
            self._unstarted.discard(message.id)
            self._held_back.discard(message.id)
            self._done.append((message, outcome))
            self._send_s = took if self._send_s is None else self._send_s + SEND_TIME_WEIGHT * (took - self._send_s)
            self._note(message, outcome)
            self._cv.notify_all()

    def hand_back(self, message: ClaimedMessage) -> None:
        with self._cv:
            self._in_flight -= 1
            self._flying.pop(message.id, None)
            self._unstarted.discard(message.id)
            self._held_back.discard(message.id)
            self._give_back.append(message.id)
            self._cv.notify_all()

    def _note(self, message: ClaimedMessage, outcome: Outcome) -> None:
        """What a result changes for the messages still queued. Called under `_cv`."""
        outage = self._outage
        if outcome.outage:
            if outage is None or outage.probing:
                delay = outage_delay_s(outage.delay_s if outage is not None else None)
                if outage is None:
                    self._outage = outage = _Outage(outcome.error or "The provider cannot be reached", delay, 0.0)
                outage.reason = outcome.error or outage.reason
                outage.delay_s, outage.retry_at, outage.probing = delay, time.monotonic() + delay, False
            self._take_back(lambda m: True)
            self._flush_now = True
            return
        if outage is not None and outage.probing:
            self._outage, self._ended_outage = None, outage  # the channel answered: it is up again
            self._flush_now = True
        if outcome.status == states.SENT and self._stale_checked is None:
            self._stale_checked = False
        if outcome.status == states.SENT and message.campaign_id is not None:
            self._error_run.discard(message.campaign_id)
        if outcome.status != states.SENT:
            # Errors in a row and pause requests act on the very next message of the campaign.
            if message.campaign_id is not None:
                self._erring.add(message.campaign_id)
                self._error_run.add(message.campaign_id)
                self._take_back(lambda m: m.campaign_id == message.campaign_id)
            self._flush_now = True
