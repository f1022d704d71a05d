"""Campaign state changes and their `campaign.status` events, each inside the caller's write transaction.

Counts: `counts()` reads them from the messages (one GROUP BY, used by the API and by the rare status events);
the dispatcher keeps `sent_count` / `failed_count` / `uncertain_count` / `cancelled_count` on the campaign row in
each outcome's transaction so that no message costs a COUNT; `reconcile()` rebuilds them from the messages when
something outside the dispatcher moved many rows (resume after a crash, retry, cancel).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, exists, func, select, update
from sqlalchemy.orm import Session

from backend.store import states
from backend.store.models import Campaign, Message, utcnow

if TYPE_CHECKING:
    from backend.services import Services

#: `untracked`: sent on a channel with no delivery source (accepted by the server, nothing more will be known).
COUNT_KEYS = (
    "total",
    *states.UNFINISHED_STATUSES,
    *states.DONE_STATUSES,
    "delivered",
    "undelivered",
    "untracked",
    "fallback_sent",
)
#: errors in a row after which a campaign pauses itself, unless its rate sets `max_consecutive_errors`.
DEFAULT_MAX_CONSECUTIVE_ERRORS = 10


def of_campaign(campaign_id: int, account_id: int) -> Any:
    """The messages of one campaign, in the shape the sender index (account, sender_type, sender_id) serves."""
    return and_(
        Message.account_id == account_id, Message.sender_type == states.CAMPAIGN, Message.sender_id == str(campaign_id)
    )


def counts(session: Session, campaign: Campaign) -> dict[str, int]:
    """{total queued sending sent failed uncertain delivered undelivered untracked} of one campaign, right now."""
    untracked = and_(
        Message.status == "sent",
        Message.delivered.is_(None),
        Message.delivery_expired.is_(False),
        Message.delivery_next_check_at.is_(None),
    )
    rows = session.execute(
        select(
            Message.status,
            func.count(),
            func.sum(case((Message.delivered.is_(True), 1), else_=0)),
            func.sum(case((Message.delivered.is_(False), 1), else_=0)),
            func.sum(case((untracked, 1), else_=0)),
        )
        .where(of_campaign(campaign.id, campaign.account_id))
        .group_by(Message.status)
    ).all()
    out = dict.fromkeys(COUNT_KEYS, 0)
    for status, n, delivered, undelivered, not_tracked in rows:
        if status in out:
            out[status] = int(n)
        out["delivered"] += int(delivered or 0)
        out["undelivered"] += int(undelivered or 0)
        out["untracked"] += int(not_tracked or 0)
    out["total"] = campaign.total
    out["fallback_sent"] = int(
        session.scalar(
            select(func.count()).where(
                Message.account_id == campaign.account_id,
                Message.sender_type == states.FALLBACK,
                Message.sender_id == str(campaign.id),
                Message.status == states.SENT,
            )
        )
        or 0
    )
    return out


def record_status(
    services: Services, session: Session, campaign: Campaign, text: str, *, level: str = "info"
) -> dict[str, int]:
    """Write a `campaign.status` event with the campaign's status, reason and live counts."""
    live = counts(session, campaign)
    data = {
        "campaign_id": campaign.id,
        "name": campaign.name,
        "status": campaign.status,
        "reason": campaign.status_reason,
        "counts": live,
    }
    services.hub.record(session, campaign.account_id, "campaign.status", text, level=level, data=data)
    return live


def has_unfinished(session: Session, campaign_id: int, account_id: int) -> bool:
    """True while any message of the campaign, or a fallback row of it that was queued, is queued or sending (an
    index seek, not a count)."""
    unfinished = and_(of_campaign(campaign_id, account_id), Message.status.in_(states.UNFINISHED_STATUSES))
    fallback = and_(
        Message.account_id == account_id,
        Message.sender_type == states.FALLBACK,
        Message.sender_id == str(campaign_id),
        Message.status.in_(states.UNFINISHED_STATUSES),
    )
    return bool(session.scalar(select(exists().where(unfinished)))) or bool(
        session.scalar(select(exists().where(fallback)))
    )


def complete_if_done(services: Services, session: Session, campaign: Campaign) -> bool:
    """`running` -> `completed` when nothing is queued or sending; emits the original completion text."""
    if campaign.status != states.RUNNING or has_unfinished(session, campaign.id, campaign.account_id):
        return False
    changed = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == states.RUNNING)
        .values(status=states.COMPLETED, completed_at=utcnow(), status_reason=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        return False
    session.refresh(campaign)
    live = counts(session, campaign)
    text, level = completion_text(live)
    record_status(services, session, campaign, text, level=level)
    return True


def completion_text(live: dict[str, int]) -> tuple[str, str]:
    """The original words, then the truth about the ending: "Completed with 3 of 6 failed" (a warning) when
    anything failed or is uncertain; a success only when everything was sent."""
    text = f"Mass messaging complete. Sent: {live['sent']}, Failed: {live['failed']}"
    ended = live["sent"] + live["failed"] + live["uncertain"]
    troubles = []
    if live["failed"]:
        troubles.append(f"{live['failed']} of {ended} failed")
    if live["uncertain"]:
        troubles.append(f"{live['uncertain']} of {ended} uncertain")
    if not troubles:
        return text, "success"
    return f"{text}. Completed with {' and '.join(troubles)}", "warning"


def pause(
    services: Services,
    session: Session,
    campaign: Campaign,
    reason: str,
    *,
    level: str = "warning",
    resume_at: datetime | None = None,
) -> bool:
    """`running` (or `scheduled`) -> `paused` with a reason the user sees; False when it was not running.

    With `resume_at` (a channel that said when it can send again) the campaign job resumes it then by itself,
    and the reason says so.
    """
    if resume_at is not None:
        reason = f"{reason} It resumes by itself at {resume_at.strftime('%Y-%m-%d %H:%M UTC')}."
    changed = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status.in_((states.RUNNING, states.SCHEDULED)))
        .values(status=states.PAUSED, status_reason=reason, resume_at=resume_at, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if changed != 1:
        return False
    session.refresh(campaign)
    record_status(services, session, campaign, f"Campaign paused: {reason}", level=level)
    return True


def reconcile(session: Session, campaign: Campaign) -> None:
    """Rebuild the outcome counters from the messages (after bulk moves or a crash)."""
    rows = dict(
        session.execute(
            select(Message.status, func.count())
            .where(of_campaign(campaign.id, campaign.account_id))
            .group_by(Message.status)
        ).all()
    )
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(
            sent_count=int(rows.get(states.SENT, 0)),
            failed_count=int(rows.get(states.FAILED, 0)),
            uncertain_count=int(rows.get(states.UNCERTAIN, 0)),
            cancelled_count=int(rows.get(states.CANCELLED, 0)),
        )
        .execution_options(synchronize_session=False)
    )
    session.refresh(campaign)


def max_consecutive_errors(campaign_rate: dict[str, Any] | None) -> int:
    value = (campaign_rate or {}).get("max_consecutive_errors")
    return int(value) if value else DEFAULT_MAX_CONSECUTIVE_ERRORS
