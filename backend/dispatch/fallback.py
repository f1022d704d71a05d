"""Channel fallback (DESIGN section 16): a standby row goes out when its primary met one of the step's outcomes.

A campaign with `fallback` steps has, per recipient and step, a row with status `standby` and `fallback_of` =
the message it stands in for (the primary, or the step before). Standby rows are never claimed. This module is
the one place their fate is decided, always inside the transaction that records the primary's outcome:
- `queue_fallbacks(services, session, kinds)`: the primaries named in `kinds` (message id -> outcome words:
  `not_registered`, `invalid_address`, `hard_bounce`, `undelivered`) queue each standby row whose step waits for
  one of them. One conditional UPDATE (`status = 'standby'`) makes it happen once however often the outcome is
  reported. The activity log says "Falling back to SMS for +1 555...: not on WhatsApp" (`message.fallback`).
- `cancel_fallbacks(session, ids)`: the primaries were delivered, expired or cancelled: their standby rows (and
  those standing in for them) are cancelled.
- `primary_outcome(services, session, message_id, outcome)`: either, for a single report (the inbox's RFC 3464
  hard bounce calls it with `hard_bounce`; `delivered`, `expired`, `cancelled` cancel).
- `outcome_kinds(channel, outcome)`: what a dispatcher result means here. Only permanent failures count: a
  transient error, an outage, `uncertain` and an opt-out (SMS STOP) never trigger a fallback; an email refused
  with a 5.1.x status is a hard bounce (the address is suppressed, and the fallback goes).
A step whose recipient opted out of its channel after the campaign was created never goes: opting out cancels
it (`backend.contacts.optouts`), and `queue_fallbacks` cancels instead of queueing one it finds opted out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import phonenumbers
from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from backend.channels.families import FAMILY_OF, FAMILY_WORDS, family_of, is_opted_out
from backend.channels.sms.errors import PERMANENT as SMS_PERMANENT
from backend.dispatch.claims import MESSAGES
from backend.dispatch.outcomes import Outcome
from backend.store import states
from backend.store.id_lists import among
from backend.store.models import Contact, utcnow

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

STANDBY = "standby"
KINDS = ("not_registered", "invalid_address", "hard_bounce", "undelivered")
ENDINGS = ("delivered", "expired", "cancelled")
CHANNEL_WORDS = {channel: FAMILY_WORDS[family] for channel, family in FAMILY_OF.items()}
WHY = {
    "not_registered": "not on WhatsApp",
    "invalid_address": "the address is not valid",
    "hard_bounce": "the email bounced",
    "undelivered": "not delivered",
}
_M = MESSAGES.c
CONTACTS: Table = Contact.__table__  # type: ignore[assignment]


def outcome_kinds(channel: str, outcome: Outcome) -> frozenset[str]:
    """The fallback outcomes a dispatcher result stands for (empty: none)."""
    if outcome.status != states.FAILED or not outcome.permanent or outcome.outage:
        return frozenset()
    family, error = family_of(channel), outcome.error or ""
    if family == "whatsapp":
        if error == "not registered":
            return frozenset({"not_registered"})
        return frozenset({"invalid_address"}) if error.startswith("invalid phone number") else frozenset()
    if family == "sms":
        if outcome.opt_out:
            return frozenset()  # the recipient said STOP: never reached another way
        return frozenset({"invalid_address"}) if error in (SMS_PERMANENT[21211], SMS_PERMANENT[21614]) else frozenset()
    if family == "email":
        if outcome.opt_out == "email":  # a 5.1.x refusal: the mailbox does not exist
            return frozenset({"hard_bounce", "invalid_address"})
        return frozenset({"invalid_address"}) if "not a valid email address" in error else frozenset()
    return frozenset()


def masked(recipient: str) -> str:
    """ "+1 555..." for a phone number, "ann@..." for an address: the log names the recipient, not all of it."""
    if "@" in recipient:
        return recipient.split("@", 1)[0][:12] + "@..."
    try:
        number = phonenumbers.parse(recipient, None)
    except phonenumbers.NumberParseException:
        return recipient[:5] + "..."
    return f"+{number.country_code} {str(number.national_number)[:3]}..."


def queue_fallbacks(services: Services, session: Session, kinds: dict[int, Iterable[str]]) -> int:
    """Queue the standby rows whose primaries met an outcome their step waits for; returns how many."""
    wanted = {mid: set(k) for mid, k in kinds.items() if k}
    if not wanted:
        return 0
    rows = session.execute(
        select(_M.id, _M.fallback_of, _M.metadata, _M.channel, CONTACTS.c.opt_outs)
        .select_from(MESSAGES.outerjoin(CONTACTS, CONTACTS.c.id == _M.contact_id))
        .where(among(session, _M.fallback_of, wanted), _M.status == STANDBY)
    ).all()
    now = utcnow()
    # Opted out of the step's channel since the campaign was created: that step never goes (opting out cancels
    # it already; this holds for an opt-out written by any other way).
    opted = [row.id for row in rows if is_opted_out(row.opt_outs, family_of(row.channel))]
    if opted:
        session.execute(
            update(MESSAGES)
            .where(_M.id.in_(opted), _M.status == STANDBY)
            .values(status=states.CANCELLED, last_error="the contact opted out", updated_at=now)
        )
    chosen = {
        row_id: sorted(wanted[primary] & set((meta or {}).get("on") or ()))
        for row_id, primary, meta, _, _ in rows
        if row_id not in opted and wanted[primary] & set((meta or {}).get("on") or ())
    }
    if not chosen:
        return 0
    queued = session.execute(
        update(MESSAGES)
        .where(_M.id.in_(list(chosen)), _M.status == STANDBY)
        .values(status=states.QUEUED, next_attempt_at=now, updated_at=now)
        .returning(_M.id, _M.account_id, _M.channel, _M.recipient, _M.fallback_of, _M.sender_id)
    ).all()
    primaries = dict(session.execute(select(_M.id, _M.channel).where(_M.id.in_([r.fallback_of for r in queued]))).all())
    for row in queued:
        _announce(services, session, row, primaries.get(row.fallback_of, ""), chosen[row.id][0])
    return len(queued)


def _announce(services: Services, session: Session, row: Any, primary_channel: str, kind: str) -> None:
    words = CHANNEL_WORDS.get(row.channel, row.channel)
    why = WHY[kind] if kind != "not_registered" or primary_channel == "whatsapp" else "not registered"
    text = f"Falling back to {words} for {masked(row.recipient)}: {why}"
    data = {
        "campaign_id": int(row.sender_id) if str(row.sender_id).isdigit() else None,
        "message_id": row.id,
        "fallback_of": row.fallback_of,
        "channel": row.channel,
        "reason": kind,
    }
    services.hub.record(session, row.account_id, "message.fallback", text, level="warning", data=data)
    try:
        services.dispatchers.wake(row.account_id, row.channel)
    except Exception:  # the pool may not be running (a test app, a stopping process): the poll finds it
        log.debug("no dispatcher to wake for %s", row.channel)


def cancel_fallbacks(session: Session, primary_ids: Iterable[int], now: datetime | None = None) -> int:
    """Cancel the standby rows standing in for these messages, and those standing in for them."""
    ids, cancelled = list(primary_ids), 0
    for _ in range(3):  # a primary, its first step, its second step
        if not ids:
            break
        ids = list(
            session.scalars(
                update(MESSAGES)
                .where(among(session, _M.fallback_of, ids), _M.status == STANDBY)
                .values(status=states.CANCELLED, last_error="not needed", updated_at=now or utcnow())
                .returning(_M.id)
            )
        )
        cancelled += len(ids)
    return cancelled


def primary_outcome(services: Services, session: Session, message_id: int, outcome: str) -> int:
    """A primary's outcome reported once (the inbox's hard bounce, a delivery report): queues its fallback for
    `not_registered` `invalid_address` `hard_bounce` `undelivered`, cancels it for `delivered` `expired`
    `cancelled`. Runs in the caller's transaction; returns how many rows changed. Safe to call twice."""
    if outcome in KINDS:
        return queue_fallbacks(services, session, {message_id: {outcome}})
    if outcome in ENDINGS:
        return cancel_fallbacks(session, [message_id])
    raise ValueError(f"unknown outcome {outcome!r}")


def after_results(services: Services, session: Session, results: list[tuple[Any, Outcome]]) -> None:
    """The dispatcher's batch: permanent failures queue their fallbacks."""
    kinds: dict[int, Iterable[str]] = {}
    for message, outcome in results:
        found = outcome_kinds(message.channel, outcome)
        if found:
            kinds[message.id] = found
    if kinds:
        queue_fallbacks(services, session, kinds)


def after_delivery(services: Services, session: Session, settled: dict[int, bool], expired: Iterable[int]) -> None:
    """The delivery job's settlements: undelivered queues the fallback; delivered and expired cancel it."""
    queue_fallbacks(services, session, {mid: {"undelivered"} for mid, ok in settled.items() if not ok})
    cancel_fallbacks(session, [*(mid for mid, ok in settled.items() if ok), *expired])
