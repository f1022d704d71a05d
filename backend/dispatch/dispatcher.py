"""One dispatcher per (account, channel): claim -> channel.send -> record -> events.

The channel only sends; the dispatcher records the outcomes (fenced on its lease, `record_results`), and asks
its hooks about pacing and campaign bookkeeping.

Concurrency (DESIGN section 5). A coordinator thread does every store write; `concurrency` worker threads
(`backend.dispatch.workers`) each take the next claimed message, send it and hand the answer back; a channel
that overlaps messages on one connection (SMTP PIPELINING) takes the worker's next message while one is out
(`backend.dispatch.worker_run`).

Batches. A write transaction per message costs about as much as an SMTP send, so the coordinator works in
batches: one write transaction records the answers that arrived, gives back what it held but will not start,
renews the leases it holds, and claims the next messages, conversation messages first (a support reply never
waits behind a campaign's queue), then campaign messages, running campaigns taking turns batch by batch. It
claims when the queue runs shorter than the number of workers, as many as the workers send within
FLUSH_INTERVAL_S at the recent send time (at most MAX_BATCH), and one message while a campaign's own pace
applies (the hooks say). Answers are recorded within FLUSH_INTERVAL_S; any answer but `sent` is recorded at once.

Leases. A claimed message's lease lasts the channel's longest send plus LEASE_MARGIN_S and the coordinator renews
every lease it holds RENEWALS_PER_LEASE times per lease length, so a live process's sends never expire, however
long a send takes or a message waits in the queue.

Outages (`backend.dispatch.outage`) and the campaign gate (`backend.dispatch.gate`: errors in a row and pause
requests act on the very next message) have modules of their own.

Stopping. After `request_stop` no send starts; the sends in flight finish (within their timeout) and are recorded,
and what is held but not started goes back to the queue.

Crash safety. Each worker records each start just before the content goes out (`backend.dispatch.sending`: in
the send journal, and on PostgreSQL in the store too) and journals each answer before the store knows. After a
crash, recovery (`backend.dispatch.recovery`) queues again what never started, records what was answered, and
leaves `uncertain` only the sends whose content was on its way (at most one per worker).

Nothing the coordinator meets stops it: a store that cannot be written is retried (and shown as
`store_problem`), a journal that cannot be rewritten holds back the next starts, anything else is logged once a
minute and the loop goes on with what it holds.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from backend.channels.base import OutboundMessage
from backend.channels.registry import channel_class
from backend.dispatch.claims import ClaimedMessage, claim_next, release, renew_leases
from backend.dispatch.gate import exclusions, first_of_each
from backend.dispatch.hooks import IDLE_POLL_S, MAX_BATCH, DispatchHooks, NoHooks
from backend.dispatch.journal import SendJournal, journal_dir
from backend.dispatch.outcomes import Outcome, record_results
from backend.dispatch.sending import OnceLog, StartRecorder, starts_in_store
from backend.dispatch.workers import LEASE_MARGIN_S, SendWorkers
from backend.store.models import utcnow
from backend.store.process import worker_id
from backend.store.write_turns import write_turn

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

#: the coordinator renews the leases it holds this many times per lease length.
RENEWALS_PER_LEASE = 4
#: how often the channel's concurrency, lease length and pace gap are read again.
ADJUST_S = 2.0
#: longest time between a batch's claim and its commit (results and pauses take effect this fast).
FLUSH_INTERVAL_S = 0.1
#: a stopping dispatcher that cannot reach the store gives up after this many tries (recovery takes over).
STOP_ATTEMPTS = 3


def store_problem_text(exc: BaseException) -> str:
    """What a failed batch write waits for, in words (no connection details: they may name hosts)."""
    detail = str(getattr(exc, "orig", None) or exc).lower()
    if "full" in detail or "space" in detail:
        return "Waiting for the disk: the database cannot write (the disk is full)"
    return "Waiting for the database: it cannot be written"


def batch_size(limit: int, send_s: float | None, concurrency: int = 1) -> int:
    """The next claim's size: what `concurrency` workers send in FLUSH_INTERVAL_S at the recent send time (one
    per worker before the first send, at least two per worker after), within `limit`."""
    if send_s is None:
        return max(1, min(limit, MAX_BATCH, concurrency))
    fits = int(FLUSH_INTERVAL_S / max(send_s, 1e-6)) * concurrency
    # Two per worker at least: a worker that finishes finds the next message while the coordinator claims more.
    return max(1, min(limit, MAX_BATCH, max(fits, 2 * concurrency)))


class Dispatcher(SendWorkers):
    """A coordinator thread (claims and records, one write transaction per batch) and `concurrency` workers
    (`SendWorkers`: each sends its messages over its own connection, one at a time or pipelined, recording each
    start and journaling each answer)."""

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
        self._thread: threading.Thread | None = None
        self._write_session: Session | None = None
        super().__init__(services, account_id, channel_name)
        #: the campaign the last batch started with (running campaigns take turns, batch by batch).
        self._last_campaign: int | None = None
        self._journal: SendJournal | None = None
        self._recorder_logs = OnceLog()
        self._loop_failures_while_stopping = 0
        #: why the store cannot be written now ("Waiting for the database: ..."), None while it can.
        self.store_problem: str | None = None
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
            self._gate.stopped(campaign_id)
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
        """Why the channel cannot be reached now and when it is tried again ("...; trying again in 8 s"), or None."""
        with self._cv:
            current = self._outage.current
            return (current.announced or current.reason) if current is not None else None

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
        self._recorder = StartRecorder(self.db, self.owner, journal, in_store=starts_in_store(self.db))
        clean = False
        try:
            clean = self._guarded_loop(journal)
        finally:
            self._stop.set()
            with self._cv:
                self._cv.notify_all()
            self._drop_session()
            journal.close(remove=clean and journal.open_count == 0)

    def _guarded_loop(self, journal: SendJournal) -> bool:
        """`_loop`, carried on after anything it did not expect (logged once a minute): what it holds stays in
        `_queue`, `_done` and `_give_back`, so nothing is lost and no claim is stranded."""
        while True:
            try:
                return self._loop(journal)
            except Exception:
                self._recorder_logs.exception("loop", "dispatcher %s met an unexpected error; going on", self.owner)
                self._drop_session()
                if self._stop.wait(1) and self._stop_failures_exhausted():
                    return False

    def _stop_failures_exhausted(self) -> bool:
        self._loop_failures_while_stopping += 1
        return self._loop_failures_while_stopping >= STOP_ATTEMPTS

    def _drop_session(self) -> None:
        session, self._write_session = self._write_session, None
        if session is not None:
            session.close()

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
                self._gate.batch_begins()
                want = 0 if stopping else self._claim_wanted(now)
                renew = renew_due and (self._in_flight > 0 or bool(self._queue))
                probe = self._outage.current is not None and want > 0
                if probe:
                    self._outage.set_probing(True)
            if not done and not give_back and not want and not renew:
                continue  # woken to adjust only
            try:
                fresh = self._flush(done, give_back, want, renew)
            except Exception as exc:
                self._flush_failed(exc, done, give_back, probe)
                failures += 1
                if stopping and failures >= STOP_ATTEMPTS:
                    return False  # the journal stays: recovery settles these after the process ends
                time.sleep(1)  # the store is away: try again in a moment
                continue
            failures = 0
            self.store_problem = None
            journal.committed([m.id for m, _ in done])  # never raises: a full disk holds back the next starts
            last_flush = time.monotonic()
            if renew:
                last_renew = last_flush
            self._outage.announce(self._cv)
            with self._cv:
                self._flushed(fresh, bool(done), bool(want), probe)

    def _flush_failed(
        self, exc: Exception, done: list[tuple[ClaimedMessage, Outcome]], give_back: list[int], probe: bool
    ) -> None:
        """The store refused a flush: keep what it held for the next one, and say so."""
        self._recorder_logs.exception("store", "dispatcher %s could not write to the store; retrying", self.owner)
        self._drop_session()
        with self._cv:
            self.store_problem = store_problem_text(exc)
            self._done[:0] = done
            self._give_back[:0] = give_back
            if probe:
                self._outage.set_probing(False)

    def _flushed(
        self, fresh: list[tuple[ClaimedMessage, OutboundMessage]], recorded: bool, wanted: bool, probe: bool
    ) -> None:
        """After a flush (under `_cv`): queue what it claimed, or idle a moment when it claimed nothing."""
        if probe and not fresh:
            self._outage.set_probing(False)
        if wanted and not fresh:
            wait_s = self.hooks.idle_wait_s(self.account_id, self.channel_name)
            self._idle_until = time.monotonic() + min(max(wait_s, 0.01), IDLE_POLL_S)
        elif recorded:
            self._idle_until = 0.0  # recorded results may let a held-back campaign go on
        if fresh:
            self._enqueue(fresh)
        self._cv.notify_all()

    def _enqueue(self, fresh: list[tuple[ClaimedMessage, OutboundMessage]]) -> None:
        """Queue a batch just claimed, but give back what may not start now: everything when stopping, and the
        messages of campaigns that met an error or were stopped while the claim was under way (their errors in a
        row and their pause act on the very next message). Called under `_cv`."""
        held = self._gate.held()
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
            retry = self._outage.retry_wait(now)
            if retry is not None:
                waits.append(retry)
            elif self._idle_until > now:
                waits.append(self._idle_until - now)
        return min(waits)

    def _claim_wanted(self, now: float) -> int:
        """How many messages to claim now (0: none). Called under `_cv`."""
        if now < self._idle_until:
            return 0
        if self._outage.current is not None:
            # One message probes the connection once the backoff is over; nothing else is claimed meanwhile.
            return self._outage.probe_ready(now, idle=not self._in_flight and not self._queue)
        if len(self._queue) >= self._concurrency:
            return 0  # every worker has something to start
        return max(0, batch_size(MAX_BATCH, self._send_s, self._concurrency) - len(self._queue))

    def _flush(
        self, done: list[tuple[ClaimedMessage, Outcome]], give_back: list[int], want: int, renew: bool
    ) -> list[tuple[ClaimedMessage, OutboundMessage]]:
        """One write transaction: record `done`, give back `give_back`, renew the leases held, claim up to
        `want` messages."""
        session = self._session()
        with write_turn(self.db), session.begin():  # SQLite: webhook bursts and this batch take turns
            record_results(self.services, session, self.owner, self.hooks, done)
            release(session, self.owner, give_back, utcnow())
            if renew:
                renew_leases(session, self.owner, utcnow() + timedelta(seconds=self._lease_s))
            if not want:
                return []
            # Asked after the results were recorded, so that their sends already count for the pace.
            campaigns_allowed = self.hooks.seconds_until_next(self.account_id, self.channel_name) <= 0
            size = max(1, min(want, self.hooks.batch_limit(self.account_id, self.channel_name)))
            with self._cv:  # campaigns with a message queued, in flight or answered but not recorded yet
                flying = [m.campaign_id for m in self._flying.values()] + [m.campaign_id for m, _ in self._done]
                unrecorded = [m.campaign_id for m, _ in self._queue] + flying
                waiting = self._gate.waiting(flying)
            one_at_a_time = waiting[1]
            exclude, hold_campaigns = exclusions(self.hooks, self.account_id, self.channel_name, waiting, unrecorded)
            if hold_campaigns:
                campaigns_allowed = False
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
            if claimed:  # the hooks see every claim: a pace takes its tokens, a closed window defers
                keep = self.hooks.trim_batch(session, first_of_each(claimed, one_at_a_time))
                if len(keep) < len(claimed):
                    kept = {m.id for m in keep}
                    release(session, self.owner, [m.id for m in claimed if m.id not in kept], utcnow())
                claimed = keep
            return [(m, self.hooks.outbound(session, m)) for m in claimed]
