"""One dispatcher thread per (account, channel): claim -> channel.send -> record -> events.

The channel only sends; the dispatcher records the outcomes (fenced on its lease, `record_results`), and asks
its hooks about pacing and campaign bookkeeping.

Batches. A write transaction per message costs about as much as an SMTP send, so the dispatcher works in
batches: one write transaction records the results of the last batch, gives back what it held but did not
start, and claims the next batch, conversation messages first (a support reply never waits behind a campaign's
queue), then campaign messages, running campaigns taking turns batch by batch. A batch is as large as the
channel's recent send time lets it finish within FLUSH_INTERVAL_S (at most MAX_BATCH), and one message while a
pace applies (the hooks say). A batch ends early after any result but `sent` (errors in a row and pause requests
act on the very next message), as soon as a campaign it holds is paused or cancelled in this process
(`campaign_stopped`), and when the dispatcher stops. A campaign paused by another process stops within
FLUSH_INTERVAL_S plus one send. Results reach the store, and the dashboard, within the same interval.

Crash safety. The dispatcher sends one message at a time and writes each start and each answer to its send
journal (`backend.dispatch.journal`) before the store knows. After a crash, recovery reads the journal: claimed
messages never started go back to the queue, answered ones are recorded, and only the one in flight is
`uncertain`. Every claimed message is sent within FLUSH_INTERVAL_S plus one send of its claim, well inside its
lease (the channel's send timeout plus LEASE_MARGIN_S).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy.orm import Session

from backend.channels.base import Channel, OutboundMessage, SendError
from backend.channels.registry import channel_class
from backend.dispatch.claims import ClaimedMessage, claim_next, release
from backend.dispatch.hooks import IDLE_POLL_S, MAX_BATCH, DispatchHooks, NoHooks
from backend.dispatch.journal import SendJournal, journal_dir
from backend.dispatch.outcomes import Outcome, outcome_of, record_results
from backend.store.models import utcnow
from backend.store.process import worker_id

log = logging.getLogger(__name__)

#: how long a claimed message's lease lasts beyond the channel's own send timeout.
LEASE_MARGIN_S = 30.0
#: longest time between a batch's claim and its commit (results and pauses take effect this fast).
FLUSH_INTERVAL_S = 0.1
#: weight of the newest send in the running mean of a send's duration (which sizes the next batch).
SEND_TIME_WEIGHT = 0.2
#: a stopping dispatcher that cannot reach the store gives up after this many tries (recovery takes over).
STOP_ATTEMPTS = 3


def batch_size(limit: int, send_s: float | None) -> int:
    """The next claim's size: what fits in FLUSH_INTERVAL_S at the recent send time, within `limit`."""
    if send_s is None:
        return 1
    fits = int(FLUSH_INTERVAL_S / max(send_s, 1e-6))
    return max(1, min(limit, MAX_BATCH, fits))


class Dispatcher:
    def __init__(
        self,
        services: Any,
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
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the channel instance of the last send (the manager may swap instances when settings change).
        self._channel_instance: Channel | None = None
        self._write_session: Session | None = None
        #: campaigns paused or cancelled in this process since the last commit (their held messages go back).
        self._stopped_campaigns: set[int] = set()
        self._notice_lock = threading.Lock()
        #: running mean of one send's duration, in seconds (None until the first send).
        self._send_s: float | None = None
        #: the campaign the last batch started with (running campaigns take turns, batch by batch).
        self._last_campaign: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"dispatch-{self.account_id}-{self.channel_name}", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def campaign_stopped(self, campaign_id: int) -> None:
        """A campaign was paused or cancelled: send none of its messages from the batch at hand."""
        with self._notice_lock:
            self._stopped_campaigns.add(campaign_id)

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the message in flight (if any) is recorded; what is held but not started goes back."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop -----------------------------------------------------------------------------------------

    def _session(self) -> Session:
        """This dispatcher's own write session, one transaction per batch (`db.write()` semantics: BEGIN
        IMMEDIATE on SQLite, commit on success, rollback on error), kept across batches so that each does not
        pay for building one. Only this thread uses it; it holds no ORM objects between batches."""
        if self._write_session is None:
            self._write_session = self.db.write_sessions()
        else:
            self._write_session.expunge_all()
        return self._write_session

    def _channel(self) -> Channel:
        return self.services.parts["channels"].instance(self.account_id, self.channel_name)

    def _run(self) -> None:
        channel_cls = channel_class(self.channel_name)
        self._lease_s = float(getattr(channel_cls, "send_timeout_s", 60.0)) + LEASE_MARGIN_S
        self._max_attempts = channel_cls.max_attempts
        directory = journal_dir(self.services.config.data_dir)
        try:
            journal = SendJournal(directory, self.owner)
        except OSError:
            # Sending without a journal would break the crash guarantee; the pool tries again in a few seconds.
            log.exception("dispatcher %s cannot open its send journal in %s; not sending", self.owner, directory)
            return
        clean = False
        try:
            clean = self._loop(journal)
        finally:
            self._drop_session()
            journal.close(remove=clean)

    def _drop_session(self) -> None:
        session, self._write_session = self._write_session, None
        if session is not None:
            session.close()

    def _loop(self, journal: SendJournal) -> bool:
        """Send until stopped; True when everything held was recorded or given back (the journal may go)."""
        held: deque[tuple[ClaimedMessage, OutboundMessage]] = deque()
        done: list[tuple[ClaimedMessage, Outcome]] = []
        claimed_at = 0.0
        failures = 0
        while True:
            stopping = self._stop.is_set()
            if stopping or self._batch_over(held, done, claimed_at):
                try:
                    fresh = self._flush(done, [m.id for m, _ in held], claim=not stopping)
                except Exception:
                    log.exception("dispatcher %s could not write to the store; retrying", self.owner)
                    self._drop_session()
                    failures += 1
                    if stopping and failures >= STOP_ATTEMPTS:
                        return False  # the journal stays: recovery settles these after the process ends
                    self._stop.wait(1)
                    continue
                failures = 0
                journal.committed()
                done, held, claimed_at = [], deque(fresh), time.monotonic()
                if stopping:
                    return True
                if not held:
                    wait_s = self.hooks.idle_wait_s(self.account_id, self.channel_name)
                    self._wake.wait(min(max(wait_s, 0.01), IDLE_POLL_S))
                    self._wake.clear()
                    continue
            message, outbound = held[0]
            try:
                journal.started(message.id)
            except OSError:
                # Without the journal a crash could not tell this send from one never started: do not send.
                log.exception("dispatcher %s cannot write its send journal; holding back", self.owner)
                self._stop.wait(1)
                claimed_at = 0.0  # ends the batch: what is held goes back
                continue
            held.popleft()
            outcome = self._send(message, outbound)
            done.append((message, outcome))
            try:
                journal.finished(message.id, outcome)
            except OSError:
                log.exception("dispatcher %s could not journal the answer for message %s", self.owner, message.id)

    def _batch_over(
        self,
        held: deque[tuple[ClaimedMessage, OutboundMessage]],
        done: list[tuple[ClaimedMessage, Outcome]],
        since: float,
    ) -> bool:
        """Whether to commit (and claim again) before the next send."""
        if not held or time.monotonic() - since >= FLUSH_INTERVAL_S:
            return True
        if done and done[-1][1].status != "sent":
            return True
        if self._stopped_campaigns:
            stopped = self._stopped_campaigns
            return any(m.campaign_id in stopped for m, _ in held)
        return False

    def _flush(
        self, done: list[tuple[ClaimedMessage, Outcome]], held_ids: list[int], *, claim: bool
    ) -> list[tuple[ClaimedMessage, OutboundMessage]]:
        """One write transaction: record `done`, give back `held_ids`, claim the next batch (unless stopping)."""
        with self._notice_lock:
            self._stopped_campaigns.clear()  # this transaction reads the campaigns' state itself
        session = self._session()
        with session.begin():
            record_results(self.services, session, self.owner, self.hooks, done)
            release(session, self.owner, held_ids, utcnow())
            if not claim:
                return []
            # Asked after the results were recorded, so that their sends already count for the pace.
            campaigns_allowed = self.hooks.seconds_until_next(self.account_id, self.channel_name) <= 0
            size = batch_size(self.hooks.batch_limit(self.account_id, self.channel_name), self._send_s)
            claimed = claim_next(
                session.connection(),
                account_id=self.account_id,
                channel=self.channel_name,
                owner=self.owner,
                now=utcnow(),
                lease_s=self._lease_s,
                limit=size,
                exclude_campaigns=self.hooks.excluded_campaigns(self.account_id, self.channel_name),
                campaigns=campaigns_allowed,
                after_campaign=self._last_campaign,
            )
            first_campaign = next((m.campaign_id for m in claimed if m.campaign_id is not None), None)
            if first_campaign is not None:
                self._last_campaign = first_campaign  # the next batch starts with the next running campaign
            if len(claimed) > 1:
                keep = self.hooks.trim_batch(session, claimed)
                if len(keep) < len(claimed):
                    kept = {m.id for m in keep}
                    release(session, self.owner, [m.id for m in claimed if m.id not in kept], utcnow())
                claimed = keep
            return [(m, self.hooks.outbound(session, m)) for m in claimed]

    def _send(self, message: ClaimedMessage, outbound: OutboundMessage) -> Outcome:
        started = time.monotonic()
        outcome = self._send_one(message, outbound)
        took = time.monotonic() - started
        self._send_s = took if self._send_s is None else self._send_s + SEND_TIME_WEIGHT * (took - self._send_s)
        # A channel may start what the next send needs while this result is handled (SMTP: MAIL FROM).
        prepare = getattr(self._channel_instance, "prepare_next", None)
        if prepare is not None and not self._stop.is_set():
            try:
                prepare()
            except Exception:
                log.exception("channel %s could not prepare the next send", self.channel_name)
        return outcome

    def _send_one(self, message: ClaimedMessage, outbound: OutboundMessage) -> Outcome:
        self._channel_instance = None
        try:
            self._channel_instance = channel = self._channel()
            provider_id = channel.send(outbound)
        except SendError as exc:
            campaign = message.campaign_id is not None
            return outcome_of(exc, message.attempts, self._max_attempts, utcnow(), campaign=campaign)
        except Exception as exc:
            # A bug or an unexpected library error after the request may have left: never re-send blindly.
            log.exception("channel %s raised while sending message %s", self.channel_name, message.id)
            return Outcome("uncertain", error=f"unexpected error: {type(exc).__name__}")
        return Outcome("sent", provider_message_id=provider_id)
