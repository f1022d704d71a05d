"""How a sequence looks in the monitor: a funnel per step (enrolled, sent, delivered, replied, exited) and the
list of enrolments with each one's step, status and next time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from backend.store import states
from backend.store.models import Campaign, Contact, Message
from backend.store.models.sequences import ACTIVE, COMPLETED, EXITED, SequenceEnrollment, SequenceSend
from backend.views import iso


def funnel(session: Session, campaign: Campaign) -> dict[str, Any]:
    steps = (campaign.sequence or {}).get("steps") or []
    e = SequenceEnrollment
    by_status = dict(
        session.execute(select(e.status, func.count()).where(e.campaign_id == campaign.id).group_by(e.status)).all()
    )
    ended = {
        (step, reason): n
        for step, reason, n in session.execute(
            select(e.step, e.exit_reason, func.count())
            .where(e.campaign_id == campaign.id, e.status == EXITED)
            .group_by(e.step, e.exit_reason)
        ).all()
    }
    sends = {
        step: (made, sent, delivered)
        for step, made, sent, delivered in session.execute(
            select(
                SequenceSend.step,
                func.count(),
                func.count(case((Message.status == states.SENT, 1))),
                func.count(case((Message.delivered.is_(True), 1))),
            )
            .join(Message, Message.id == SequenceSend.message_id)
            .where(SequenceSend.campaign_id == campaign.id)
            .group_by(SequenceSend.step)
        ).all()
    }
    enrolled = sum(by_status.values())
    rows = []
    for number in range(1, len(steps) + 1):
        made, sent, delivered = sends.get(number, (0, 0, 0))
        replied = ended.get((number, "reply"), 0)
        exited = sum(n for (step, _), n in ended.items() if step == number)
        reached = enrolled if number == 1 else made
        rows.append(
            {
                "step": number,
                "wait_s": steps[number - 1]["wait_s"],
                "enrolled": reached,
                "queued": made,
                "sent": sent,
                "delivered": delivered,
                "replied": replied,
                "exited": exited,
            }
        )
    before_first = sum(n for (step, _), n in ended.items() if step == 0)
    return {
        "enrolled": enrolled,
        "active": by_status.get(ACTIVE, 0),
        "completed": by_status.get(COMPLETED, 0),
        "exited": by_status.get(EXITED, 0),
        "exited_before_first": before_first,
        "steps": rows,
    }


def enrollment_view(row: SequenceEnrollment, contact: Contact | None, steps: int) -> dict[str, Any]:
    return {
        "id": row.id,
        "contact_id": row.contact_id,
        "contact": {"name": contact.name, "phone": contact.phone, "email": contact.email} if contact else None,
        "status": row.status,
        "step": row.step,
        "steps": steps,
        "current_step": min(row.step + 1, steps) if row.status == ACTIVE else row.step,
        "next_at": iso(row.next_at),
        "waiting_on_send": row.status == ACTIVE and row.message_id is not None,
        "message_id": row.message_id,
        "source": row.source,
        "exit_reason": row.exit_reason,
        "exit_detail": row.exit_detail,
        "enrolled_at": iso(row.enrolled_at),
        "ended_at": iso(row.ended_at),
    }
