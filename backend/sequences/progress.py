"""How an enrolment moves on: its step's message sent -> the next step is due `wait_s` after that send (or the
sequence is completed); the step failed for good -> the contact leaves (`failed`); a reply or an opt-out -> the
contact leaves and a queued step is cancelled. Each runs in the transaction that made the change (the
dispatcher's batch, the inbound message's, the opt-out's), so nothing is lost between them.

An automatic reply (out of office) is no reply here: the inbound path calls `on_inbound` only for real ones.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.campaigns import lifecycle
from backend.channels.families import family_of
from backend.store import states
from backend.store.models import Campaign, Contact, Message, utcnow
from backend.store.models.sequences import ACTIVE, COMPLETED, EXITED, SequenceEnrollment

if TYPE_CHECKING:
    from backend.dispatch.claims import ClaimedMessage
    from backend.dispatch.outcomes import Outcome
    from backend.services import Services

REASON_TEXT = {
    "reply": "replied",
    "opt_out": "opted out",
    "failed": "could not be sent a step",
    "cancelled": "was taken out",
}


def after_results(services: Services, session: Session, results: list[tuple[ClaimedMessage, Outcome]]) -> None:
    """The dispatcher's batch: sequence steps that were sent move their enrolment on; failed ones end it
    (unless a fallback row was queued for it: then the fallback's own result decides)."""
    now = services.clock()
    for message, outcome in results:
        mark = (message.meta or {}).get("sequence")
        if not mark:
            continue
        if outcome.status == states.SENT:
            advance(session, int(mark["enrollment_id"]), int(mark["step"]), now)
        elif outcome.status == states.FAILED and not _fallback_queued(session, message.id):
            enrollment = session.get(SequenceEnrollment, int(mark["enrollment_id"]))
            if enrollment is not None and enrollment.status == ACTIVE and enrollment.step == int(mark["step"]) - 1:
                detail = f"step {mark['step']}: {outcome.error or 'failed'}"
                leave(services, session, enrollment.id, "failed", detail, now)


def _fallback_queued(session: Session, message_id: int) -> bool:
    found = select(Message.id).where(Message.fallback_of == message_id, Message.status == states.QUEUED).limit(1)
    return session.scalar(found) is not None


def advance(session: Session, enrollment_id: int, step: int, sent_at: datetime) -> bool:
    """Step `step` (1-based) of the enrolment was sent at `sent_at`: the next one is due a full wait later, or
    the enrolment is completed. Fenced on the enrolment being at that step: a second report changes nothing."""
    enrollment = session.get(SequenceEnrollment, enrollment_id, populate_existing=True)
    if enrollment is None or enrollment.status != ACTIVE or enrollment.step != step - 1:
        return False
    campaign = session.get(Campaign, enrollment.campaign_id)
    steps = ((campaign.sequence if campaign else None) or {}).get("steps") or []
    values: dict[str, Any] = {"step": step, "message_id": None, "updated_at": sent_at, "lease_owner": None}
    if step >= len(steps):
        values.update(status=COMPLETED, ended_at=sent_at, next_at=None)
    else:
        values["next_at"] = sent_at + timedelta(seconds=int(steps[step]["wait_s"]))
    changed = session.execute(
        update(SequenceEnrollment)
        .where(
            SequenceEnrollment.id == enrollment_id,
            SequenceEnrollment.step == step - 1,
            SequenceEnrollment.status == ACTIVE,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    return bool(changed)


def finish(session: Session, enrollment_id: int, now: datetime) -> None:
    """The enrolment has had every step there is (`completed`)."""
    session.execute(
        update(SequenceEnrollment)
        .where(SequenceEnrollment.id == enrollment_id, SequenceEnrollment.status == ACTIVE)
        .values(status=COMPLETED, ended_at=now, updated_at=now, next_at=None, lease_owner=None, lease_until=None)
        .execution_options(synchronize_session=False)
    )


def leave(services: Services, session: Session, enrollment_id: int, reason: str, detail: str, now: datetime) -> None:
    """The enrolment ends (`exited`, with why); its queued step message and standby rows are cancelled."""
    enrollment = session.get(SequenceEnrollment, enrollment_id, populate_existing=True)
    if enrollment is None or enrollment.status != ACTIVE:
        return
    message_id = enrollment.message_id
    enrollment.status, enrollment.exit_reason, enrollment.exit_detail = EXITED, reason, detail[:1000]
    enrollment.ended_at = enrollment.updated_at = now
    enrollment.lease_owner = enrollment.lease_until = None
    enrollment.next_at = None
    session.flush()
    campaign = session.get(Campaign, enrollment.campaign_id)
    if message_id is not None:
        _cancel_step(session, message_id, f"the contact left the sequence ({REASON_TEXT.get(reason, reason)})")
        if campaign is not None:
            lifecycle.reconcile(session, campaign)
    contact = session.get(Contact, enrollment.contact_id)
    who = (contact.name or contact.email or contact.phone) if contact else "A contact"
    name = campaign.name if campaign else "a sequence"
    services.hub.record(
        session,
        enrollment.account_id,
        "sequence.exited",
        f"{who} {REASON_TEXT.get(reason, reason)}: left the sequence {name}",
        data={
            "campaign_id": enrollment.campaign_id,
            "contact_id": enrollment.contact_id,
            "enrollment_id": enrollment.id,
            "reason": reason,
            "step": enrollment.step,
        },
    )


def _cancel_step(session: Session, message_id: int, why: str) -> None:
    session.execute(
        update(Message)
        .where(
            (Message.id == message_id) | (Message.fallback_of == message_id),
            Message.status.in_((states.QUEUED, "standby")),
        )
        .values(status=states.CANCELLED, last_error=why, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def end_all(session: Session, campaign_id: int, now: datetime) -> int:
    """A cancelled sequence: every active enrolment ends (`exited`, `cancelled`); its queued steps are cancelled
    by the campaign's own cancel. Returns how many."""
    result = session.execute(
        update(SequenceEnrollment)
        .where(SequenceEnrollment.campaign_id == campaign_id, SequenceEnrollment.status == ACTIVE)
        .values(
            status=EXITED,
            exit_reason="cancelled",
            exit_detail="the sequence was cancelled",
            ended_at=now,
            updated_at=now,
            next_at=None,
            lease_owner=None,
            lease_until=None,
        )
        .returning(SequenceEnrollment.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


def on_opt_out(services: Services, session: Session, contact_id: int, family: str, why: str) -> None:
    """An opt-out ends the enrolments of sequences that exit on one; a hard bounce's suppression does not (it is
    the step's own failure: its fallback, or its failing, decides)."""
    if why != "hard_bounce":
        exit_contact(services, session, contact_id, "opt_out", family)


def exit_contact(services: Services, session: Session, contact_id: int, reason: str, family: str | None = None) -> int:
    """A reply or opt-out of `contact_id`: every active enrolment whose sequence exits on `reason` ends (for an
    opt-out of one family: the sequences on that family's channels); returns how many."""
    rows = session.execute(
        select(SequenceEnrollment.id, Campaign.sequence, Campaign.channel)
        .join(Campaign, Campaign.id == SequenceEnrollment.campaign_id)
        .where(SequenceEnrollment.contact_id == contact_id, SequenceEnrollment.status == ACTIVE)
    ).all()
    now = services.clock()
    left = 0
    for enrollment_id, sequence, channel in rows:
        if reason not in (sequence or {}).get("exit_on", ()):
            continue
        if family not in (None, "all") and family_of(channel) != family:
            continue
        detail = "replied" if reason == "reply" else f"opted out of {family or 'everything'}"
        leave(services, session, enrollment_id, reason, detail, now)
        left += 1
    return left
