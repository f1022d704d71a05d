"""One dispatcher thread per (account, channel): claim -> channel.send -> record -> events.

The channel only sends; the dispatcher records the outcome (fenced on its lease), emits `send.progress`, and asks
its hooks about pacing and campaign bookkeeping. Each message costs one write transaction: the result of the
previous send and the claim of the next commit together, so at most one message per dispatcher is ever in
flight, and a crash leaves at most that one `uncertain`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session

from backend.channels.base import Channel, OutboundMessage, SendError
from backend.channels.registry import channel_class
from backend.dispatch.claims import MESSAGES, ClaimedMessage, claim_next, finish, worker_id
from backend.store.models import utcnow

log = logging.getLogger(__name__)

#: how long a claimed message's lease lasts beyond the channel's own send timeout.
LEASE_MARGIN_S = 30.0
IDLE_POLL_S = 1.0
NOT_REGISTERED = "not registered"


@dataclass(frozen=True)
class Outcome:
    """What became of one send."""

    status: str  # sent | failed | uncertain | queued (retry) | paused
    provider_message_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    pause_campaign: bool = False
    #: with pause_campaign: when the channel can send again (e.g. Gmail's daily window reopens), if it said.
    resume_at: datetime | None = None


class DispatchHooks(Protocol):
    """What campaigns add to the dispatcher (pacing, counts, pausing); see NoHooks for the defaults.

    Pacing never holds back conversation messages (campaign_id NULL): they are claimed whenever due.
    """

    def seconds_until_next(self, account_id: int, channel: str) -> float:
        """Seconds until the channel's own pace lets any campaign message go (<= 0: now)."""
        ...

    def excluded_campaigns(self, account_id: int, channel: str) -> tuple[int, ...]:
        """Campaigns not to claim from right now (their own pace or daily cap holds them back)."""
        ...

    def idle_wait_s(self, account_id: int, channel: str) -> float:
        """When nothing could be claimed: how long until it is worth looking again (capped at 1 s)."""
        ...

    def outbound(self, session: Session, message: ClaimedMessage) -> OutboundMessage: ...

    def after_outcome(self, session: Session, message: ClaimedMessage, outcome: Outcome) -> dict[str, Any]:
        """Campaign bookkeeping in the outcome's transaction; returns extra `send.progress` data."""
        ...

    def after_event(self, session: Session) -> None:
        """Work that must follow the message's `send.progress` event (completing the campaign)."""
        ...


class NoHooks:
    """Conversation messages only: no pacing, position 1 of 1."""

    def seconds_until_next(self, account_id: int, channel: str) -> float:
        return 0.0

    def excluded_campaigns(self, account_id: int, channel: str) -> tuple[int, ...]:
        return ()

    def idle_wait_s(self, account_id: int, channel: str) -> float:
        return IDLE_POLL_S

    def outbound(self, session: Session, message: ClaimedMessage) -> OutboundMessage:
        return outbound_from_row(message)

    def after_outcome(self, session: Session, message: ClaimedMessage, outcome: Outcome) -> dict[str, Any]:
        return {"current": 1, "total": 1}

    def after_event(self, session: Session) -> None:
        return None


def outbound_from_row(message: ClaimedMessage) -> OutboundMessage:
    return OutboundMessage(
        id=message.id,
        account_id=message.account_id,
        channel=message.channel,
        recipient=message.recipient,
        body=message.body,
        subject=message.subject,
        html_body=message.html_body,
        recipient_name=message.recipient_name,
        sender_type=message.sender_type,
        sender_id=message.sender_id,
        metadata=dict(message.meta or {}),
    )


def retry_delay_s(attempts: int) -> float:
    """Backoff between send attempts: 5 s, 10 s, 20 s ... capped at 15 minutes."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 900))


def outcome_of(error: SendError, attempts: int, max_attempts: int, now: datetime, *, campaign: bool = True) -> Outcome:
    """How a SendError is recorded. A pause request only pauses campaign messages; a conversation message
    that hits it is retried with backoff like any transient error."""
    if error.uncertain:
        return Outcome("uncertain", error=error.reason)
    if error.permanent:
        return Outcome("failed", error=error.reason)
    if error.pause_campaign and campaign:
        resume_at = now + timedelta(seconds=error.retry_after) if error.retry_after else None
        return Outcome("queued", error=error.reason, retry_at=now, pause_campaign=True, resume_at=resume_at)
    if attempts >= max_attempts:
        return Outcome("failed", error=f"{error.reason} (gave up after {attempts} attempts)")
    delay = error.retry_after if error.retry_after is not None else retry_delay_s(attempts)
    return Outcome("queued", error=error.reason, retry_at=now + timedelta(seconds=delay))


def progress_text(recipient: str, outcome: Outcome) -> tuple[str, str]:
    """The original system's words for a send's outcome, and the event level."""
    if outcome.status == "sent":
        return f"Sent to {recipient}", "success"
    if outcome.status == "failed":
        if outcome.error == NOT_REGISTERED:
            return "Failed: not registered", "error"
        return f"Failed to send to {recipient}: {outcome.error}", "error"
    if outcome.status == "uncertain":
        return f"Not sure whether {recipient} got the message: {outcome.error}", "warning"
    if outcome.pause_campaign:
        return f"Paused before {recipient}: {outcome.error}", "warning"
    return f"Will retry {recipient}: {outcome.error}", "warning"


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

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"dispatch-{self.account_id}-{self.channel_name}", daemon=True
        )
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the message in flight (if any) is recorded."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- the loop -----------------------------------------------------------------------------------------

    def _session(self) -> Session:
        """This dispatcher's own write session, one transaction per message (`db.write()` semantics: BEGIN
        IMMEDIATE on SQLite, commit on success, rollback on error), kept across messages so that each message
        does not pay for building one. Only this thread uses it; it holds no ORM objects between messages."""
        if self._write_session is None:
            self._write_session = self.db.write_sessions()
        else:
            self._write_session.expunge_all()
        return self._write_session

    def _channel(self) -> Channel:
        return self.services.parts["channels"].instance(self.account_id, self.channel_name)

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._drop_session()

    def _drop_session(self) -> None:
        session, self._write_session = self._write_session, None
        if session is not None:
            session.close()

    def _loop(self) -> None:
        channel_cls = channel_class(self.channel_name)
        self._lease_s = float(getattr(channel_cls, "send_timeout_s", 60.0)) + LEASE_MARGIN_S
        self._max_attempts = channel_cls.max_attempts
        pending: tuple[ClaimedMessage, Outcome] | None = None
        while True:
            stopping = self._stop.is_set()
            claimed: tuple[ClaimedMessage, OutboundMessage] | None = None
            if pending is not None or not stopping:
                try:
                    claimed = self._record_and_claim(pending, not stopping)
                except Exception:
                    log.exception("dispatcher %s could not write to the store; retrying", self.owner)
                    self._drop_session()
                    self._stop.wait(1)
                    continue
                pending = None
            if stopping:
                return
            if claimed is None:
                wait_s = self.hooks.idle_wait_s(self.account_id, self.channel_name)
                self._wake.wait(min(max(wait_s, 0.01), IDLE_POLL_S))
                self._wake.clear()
                continue
            message, outbound = claimed
            pending = (message, self._send(message, outbound))

    def _record_and_claim(
        self, pending: tuple[ClaimedMessage, Outcome] | None, may_claim: bool
    ) -> tuple[ClaimedMessage, OutboundMessage] | None:
        session = self._session()
        with session.begin():
            connection = session.connection()
            if pending is not None:
                self.record(session, *pending)
            if not may_claim:
                return None
            # Asked after the previous result was recorded, so that its send already counts for the pace.
            campaigns_allowed = self.hooks.seconds_until_next(self.account_id, self.channel_name) <= 0
            claimed = claim_next(
                connection,
                account_id=self.account_id,
                channel=self.channel_name,
                owner=self.owner,
                now=utcnow(),
                lease_s=self._lease_s,
                exclude_campaigns=self.hooks.excluded_campaigns(self.account_id, self.channel_name),
                campaigns=campaigns_allowed,
            )
            if not claimed:
                return None
            return claimed[0], self.hooks.outbound(session, claimed[0])

    def _send(self, message: ClaimedMessage, outbound: OutboundMessage) -> Outcome:
        outcome = self._send_one(message, outbound)
        # A channel may start what the next send needs while this result is recorded (SMTP: MAIL FROM).
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

    def record(self, session: Session, message: ClaimedMessage, outcome: Outcome) -> None:
        """Write the outcome (fenced) and its `send.progress` event in `session`'s transaction."""
        now = utcnow()
        values: dict[str, Any] = {"status": outcome.status, "last_error": outcome.error, "updated_at": now}
        if outcome.status == "sent":
            values.update(provider_message_id=outcome.provider_message_id, sent_at=now, delivery_next_check_at=now)
        elif outcome.status == "queued":
            values["next_attempt_at"] = outcome.retry_at or now
            if outcome.pause_campaign:
                values["attempts"] = MESSAGES.c.attempts - 1  # a pause is not the message's fault
        if not finish(session.connection(), message.id, self.owner, **values):
            log.warning("message %s: lease lost before its result was written; result dropped", message.id)
            return
        message.status = outcome.status
        message.provider_message_id = outcome.provider_message_id or message.provider_message_id
        message.last_error = outcome.error
        extra = self.hooks.after_outcome(session, message, outcome)
        text, level = progress_text(message.recipient, outcome)
        key = "campaign_id" if message.sender_type == "campaign" else "conversation_id"
        sender: Any = message.campaign_id if message.sender_type == "campaign" else message.sender_id
        status = outcome.status if outcome.status in ("sent", "failed", "uncertain") else "sending"
        data = {
            key: sender,
            "message_id": message.id,
            "channel": message.channel,
            "recipient": message.recipient,
            "status": status,
            "error": outcome.error,
            "current": 1,
            "total": 1,
        }
        data.update(extra)
        self.services.hub.record(session, message.account_id, "send.progress", text, level=level, data=data)
        self.hooks.after_event(session)
