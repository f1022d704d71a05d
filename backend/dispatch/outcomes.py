"""What became of a send, and how a batch of results is written (DESIGN sections 5 and 7).

`record_results` is the one place a send's result reaches the store: each result fenced on the sender's lease,
the campaign bookkeeping of the batch (the hooks), the batch's `send.progress` events in one insert, then what
must follow the events (completing a campaign). The dispatcher calls it once per batch; crash recovery calls it
for the results a dead dispatcher wrote to its journal but never committed.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.orm import Session

from backend.channels.base import SendError
from backend.dispatch.claims import MESSAGES, ClaimedMessage, finish_many
from backend.store import states
from backend.store.models import utcnow

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

NOT_REGISTERED = "not registered"


@dataclass(frozen=True)
class Outcome:
    """What became of one send."""

    status: states.MessageStatus  # sent | failed | uncertain | queued (retry, or a campaign's pause)
    provider_message_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    pause_campaign: bool = False
    #: with pause_campaign: when the channel can send again (e.g. Gmail's daily window reopens), if it said.
    resume_at: datetime | None = None
    #: the app stopped during the send (crash recovery): not the provider's answer, so not an error in a row.
    interrupted: bool = False
    #: the provider says the recipient opted out (Twilio 21610): the contact is opted out of this family.
    opt_out: str | None = None
    #: the channel could not be reached (an outage): queued again without using an attempt, not an error.
    outage: bool = False
    #: a failure the provider will never accept (hard bounce, invalid number): not offered for retry.
    permanent: bool = False

    @property
    def is_error(self) -> bool:
        """Counts towards a campaign's errors in a row (a pause request or an interruption does not)."""
        return self.status != states.SENT and not self.pause_campaign and not self.interrupted and not self.outage

    @property
    def counts_as_done(self) -> bool:
        """Sent, failed or uncertain: the message will not be tried again by itself."""
        return self.status in states.DONE_STATUSES

    def to_json(self) -> str:
        if self == Outcome(states.SENT, provider_message_id=self.provider_message_id) and self.provider_message_id:
            # The common line, written once per message: spelled out rather than built from every field.
            return '{"status":"sent","provider_message_id":' + json.dumps(self.provider_message_id) + "}"
        raw: dict[str, Any] = {"status": self.status}
        for key in _JSON_FIELDS:
            value = getattr(self, key)
            if value is not None and value is not False:
                raw[key] = value.isoformat() if isinstance(value, datetime) else value
        return json.dumps(raw, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Outcome:
        raw = json.loads(text)
        for key in ("retry_at", "resume_at"):
            if raw.get(key):
                raw[key] = datetime.fromisoformat(raw[key])
        return cls(**raw)


_JSON_FIELDS = tuple(f.name for f in fields(Outcome) if f.name != "status")


def retry_delay_s(attempts: int) -> float:
    """Backoff between send attempts: 5 s, 10 s, 20 s ... capped at 15 minutes."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 900))


def outcome_of(error: SendError, attempts: int, max_attempts: int, now: datetime, *, campaign: bool = True) -> Outcome:
    """How a SendError is recorded. A pause request only pauses campaign messages; a conversation message
    that hits it is retried with backoff like any transient error."""
    if error.uncertain:
        return Outcome(states.UNCERTAIN, error=error.reason)
    if error.permanent:
        return Outcome(states.FAILED, error=error.reason, opt_out=error.opt_out, permanent=True)
    if error.outage:
        return Outcome(states.QUEUED, error=error.reason, retry_at=now, outage=True)
    if error.pause_campaign and campaign:
        resume_at = now + timedelta(seconds=error.retry_after) if error.retry_after else None
        return Outcome(states.QUEUED, error=error.reason, retry_at=now, pause_campaign=True, resume_at=resume_at)
    if attempts >= max_attempts:
        return Outcome(states.FAILED, error=f"{error.reason} (gave up after {attempts} attempts)")
    delay = error.retry_after if error.retry_after is not None else retry_delay_s(attempts)
    return Outcome(states.QUEUED, error=error.reason, retry_at=now + timedelta(seconds=delay))


def progress_text(recipient: str, outcome: Outcome) -> tuple[str, str]:
    """The original system's words for a send's outcome, and the event level."""
    if outcome.status == states.SENT:
        return f"Sent to {recipient}", "success"
    if outcome.status == states.FAILED:
        if outcome.error == NOT_REGISTERED:
            return "Failed: not registered", "error"
        return f"Failed to send to {recipient}: {outcome.error}", "error"
    if outcome.status == states.UNCERTAIN:
        return f"Not sure whether {recipient} got the message: {outcome.error}", "warning"
    if outcome.pause_campaign:
        return f"Paused before {recipient}: {outcome.error}", "warning"
    if outcome.outage:
        return f"Waiting to send to {recipient}: {outcome.error}", "warning"
    return f"Will retry {recipient}: {outcome.error}", "warning"


def outcome_values(outcome: Outcome, now: datetime, *, tracked: bool = True) -> dict[str, Any]:
    """The message columns an outcome sets. A message sent on a channel with no delivery source (`tracked`
    false) gets no delivery check at all: its delivery is `untracked`."""
    values: dict[str, Any] = {"status": outcome.status, "last_error": outcome.error, "updated_at": now}
    if outcome.status == states.SENT:
        check_at = now if tracked else None
        values.update(provider_message_id=outcome.provider_message_id, sent_at=now, delivery_next_check_at=check_at)
    elif outcome.status == states.FAILED:
        values["failure_kind"] = "permanent" if outcome.permanent else "exhausted"
    elif outcome.status == states.QUEUED:
        values["next_attempt_at"] = outcome.retry_at or now
        if outcome.pause_campaign or outcome.outage:
            values["attempts"] = MESSAGES.c.attempts - 1  # a pause or an outage is not the message's fault
    return values


def progress_event(message: ClaimedMessage, outcome: Outcome, extra: dict[str, Any]) -> dict[str, Any]:
    """The `send.progress` event of one result (DESIGN section 7)."""
    text, level = progress_text(message.recipient, outcome)
    campaign = message.sender_type == states.CAMPAIGN
    status = outcome.status if outcome.counts_as_done else states.SENDING
    data: dict[str, Any] = {
        "campaign_id" if campaign else "conversation_id": message.campaign_id if campaign else message.sender_id,
        "message_id": message.id,
        "channel": message.channel,
        "recipient": message.recipient,
        "status": status,
        "error": outcome.error,
        "current": 1,
        "total": 1,
    }
    data.update(extra)
    return {"account_id": message.account_id, "type": "send.progress", "text": text, "level": level, "data": data}


class ResultHooks(Protocol):
    """The part of the dispatcher's hooks (`backend.dispatch.hooks.DispatchHooks`) that recording results calls."""

    def after_outcomes(self, session: Session, results: list[tuple[ClaimedMessage, Outcome]]) -> list[dict[str, Any]]:
        """Campaign bookkeeping in the results' transaction; returns extra `send.progress` data per result."""
        ...

    def after_events(self, session: Session) -> None:
        """Work that must follow the results' `send.progress` events (completing the campaign)."""
        ...


def record_results(
    services: Services,
    session: Session,
    owner: str,
    hooks: ResultHooks,
    results: list[tuple[ClaimedMessage, Outcome]],
) -> int:
    """Write a batch of results in `session`'s transaction; returns how many were written.

    Each result is fenced on `owner`'s lease: one whose lease was lost (a stale worker) changes nothing and gets
    no event. Then the hooks' bookkeeping for the written ones, their `send.progress` events (in send order, one
    insert) and the hooks' follow-up (campaign completion comes after the last "Sent to").
    """
    if not results:
        return 0
    now = utcnow()
    tracked = _delivery_sources(services, {(m.account_id, m.channel) for m, o in results if o.status == "sent"})
    stored = finish_many(
        session,
        owner,
        [(m.id, outcome_values(o, now, tracked=tracked.get((m.account_id, m.channel), True))) for m, o in results],
    )
    written: list[tuple[ClaimedMessage, Outcome]] = []
    for message, outcome in results:
        if message.id not in stored:
            log.warning("message %s: lease lost before its result was written; result dropped", message.id)
            continue
        message.status = outcome.status
        message.provider_message_id = outcome.provider_message_id or message.provider_message_id
        message.last_error = outcome.error
        written.append((message, outcome))
    if not written:
        return 0
    opt_outs = [(m.account_id, m.contact_id, m.channel, m.recipient, o.opt_out) for m, o in written if o.opt_out]
    if opt_outs:
        # The contacts' side (backend/contacts/provider_opt_outs.py), given to Services when it is built: the
        # dispatcher does not import the contacts.
        services.provider_opt_outs(services, session, opt_outs)
    extras = hooks.after_outcomes(session, written)
    events = [progress_event(m, o, extra) for (m, o), extra in zip(written, extras, strict=True)]
    services.hub.record_many(session, events)
    hooks.after_events(session)
    return len(written)


#: how long a channel's "reports delivery" answer is reused: results are written in the dispatcher's transaction.
DELIVERY_SOURCE_TTL_S = 5.0


def _delivery_sources(services: Any, keys: set[tuple[int, str]]) -> dict[tuple[int, str], bool]:
    """Whether each (account, channel) reports delivery (the live channel says; when unknown: assume it does).
    Answers are kept DELIVERY_SOURCE_TTL_S in the app's parts, so most batches' results cost no lookup."""
    out: dict[tuple[int, str], bool] = {}
    manager = services.channels
    cache = services.delivery_sources
    now = time.monotonic()
    for account_id, channel in keys:
        key = (account_id, channel)
        cached = cache.get(key)
        if cached is not None and cached[1] > now:
            out[(account_id, channel)] = cached[0]
            continue
        try:
            answer = bool(manager.instance(account_id, channel).reports_delivery)
        except Exception:
            answer = True
        cache[key] = (answer, now + DELIVERY_SOURCE_TTL_S)
        out[(account_id, channel)] = answer
    return out
