"""What a user does to a campaign: start (now or at `scheduled_at`), pause, resume, cancel, retry failed,
re-queue uncertain. Each is one write transaction with its `campaign.status` event; a wrong state is a 409.

Pause and cancel take effect before the next message: the dispatcher claims only messages of `running`
campaigns, and this process's dispatcher is told at once to send nothing more of the campaign from the batch it
holds (a dispatcher in another process sees it at its next commit, within a tenth of a second). Starting and
resuming first verify the channel (for SMTP: EHLO, STARTTLS, AUTH, NOOP) outside any transaction; a channel
that fails verification is a 409 naming the reason.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from backend.campaigns import lifecycle, quiet_hours
from backend.channels.base import SendError
from backend.channels.manager import NotConfigured
from backend.dispatch import fallback
from backend.errors import ApiError, conflict, not_found
from backend.store import states
from backend.store.models import Campaign, Message, utcnow

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)


def load(session: Session, account_id: int, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None or campaign.account_id != account_id:
        raise not_found("This campaign")
    return campaign


def verify_channel(services: Services, account_id: int, channel: str) -> None:
    """Raises 409 when the campaign's channel is not set up or does not answer."""
    try:
        instance = services.channels.instance(account_id, channel)
        instance.verify()
    except NotConfigured:
        raise ApiError(409, "channel_not_configured", f"Set up the {channel} channel before starting.") from None
    except SendError as exc:
        raise ApiError(409, "channel_not_ready", f"The {channel} channel is not ready: {exc.reason}") from None


def sending_text(remaining: int) -> str:
    return f"Sending messages to {remaining} contacts..."


def start(services: Services, account_id: int, campaign_id: int, scheduled_at: datetime | None = None) -> None:
    """draft|scheduled -> running (or -> scheduled when `scheduled_at`/the campaign's time is in the future)."""
    with services.db.read() as session:
        campaign = load(session, account_id, campaign_id)
        when = scheduled_at or campaign.scheduled_at
        channel = campaign.channel
        if campaign.status not in (states.DRAFT, states.SCHEDULED):
            raise conflict(f"This campaign is {campaign.status}; only a draft or scheduled campaign can start.")
    if when is not None and when > utcnow():
        with services.db.write() as session:
            campaign = load(session, account_id, campaign_id)
            if campaign.status not in (states.DRAFT, states.SCHEDULED):
                raise conflict(f"This campaign is {campaign.status}.")
            campaign.status, campaign.scheduled_at, campaign.status_reason = states.SCHEDULED, when, None
            session.flush()
            lifecycle.record_status(services, session, campaign, f"Campaign scheduled for {when.isoformat()}")
        return
    verify_channel(services, account_id, channel)
    if not begin(services, account_id, campaign_id, (states.DRAFT, states.SCHEDULED)):
        raise conflict("This campaign changed meanwhile; reload it.")


def begin(services: Services, account_id: int, campaign_id: int, from_states: tuple[str, ...]) -> bool:
    """Move to `running` (fenced on `from_states`), say `Sending messages to N contacts...`, wake the sender."""
    with services.db.write() as session:
        changed = session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id, Campaign.account_id == account_id, Campaign.status.in_(from_states))
            .values(
                status=states.RUNNING, status_reason=None, resume_at=None, consecutive_errors=0, updated_at=utcnow()
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if changed != 1:
            return False
        campaign = load(session, account_id, campaign_id)
        if campaign.started_at is None:
            campaign.started_at = utcnow()
        lifecycle.reconcile(session, campaign)
        quiet_hours.defer_closed(session, campaign, services.clock())  # outside its window: waits, no attempt
        live = lifecycle.counts(session, campaign)
        remaining = live[states.QUEUED] + live[states.SENDING]
        lifecycle.record_status(services, session, campaign, sending_text(remaining))
        lifecycle.complete_if_done(services, session, campaign)
        channel = campaign.channel
    services.dispatchers.wake(account_id, channel)
    return True


def pause(services: Services, account_id: int, campaign_id: int, reason: str = "paused by you") -> None:
    with services.db.write() as session:
        campaign = load(session, account_id, campaign_id)
        if not lifecycle.pause(services, session, campaign, reason, level="info"):
            raise conflict(f"This campaign is {campaign.status}; only a running or scheduled one can pause.")
        channel = campaign.channel
    services.dispatchers.campaign_stopped(account_id, channel, campaign_id)


def resume(services: Services, account_id: int, campaign_id: int) -> None:
    with services.db.read() as session:
        campaign = load(session, account_id, campaign_id)
        if campaign.status != states.PAUSED:
            raise conflict(f"This campaign is {campaign.status}; only a paused campaign can resume.")
        channel = campaign.channel
    verify_channel(services, account_id, channel)
    if not begin(services, account_id, campaign_id, (states.PAUSED,)):
        raise conflict("This campaign changed meanwhile; reload it.")


def cancel(services: Services, account_id: int, campaign_id: int) -> None:
    """Any unfinished campaign -> `cancelled`; its queued messages are cancelled (never sent)."""
    with services.db.write() as session:
        campaign = load(session, account_id, campaign_id)
        if campaign.status in (states.COMPLETED, states.CANCELLED):
            raise conflict(f"This campaign is already {campaign.status}.")
        campaign.status, campaign.status_reason, campaign.completed_at = states.CANCELLED, "cancelled by you", utcnow()
        session.flush()
        session.execute(
            update(Message)
            .where(lifecycle.of_campaign(campaign_id, account_id), Message.status == states.QUEUED)
            .values(status=states.CANCELLED, last_error="campaign cancelled", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        # Fallback rows of a cancelled campaign that wait or are queued never go.
        session.execute(
            update(Message)
            .where(
                Message.sender_type == states.FALLBACK,
                Message.sender_id == str(campaign_id),
                Message.account_id == account_id,
                Message.status.in_((fallback.STANDBY, states.QUEUED)),
            )
            .values(status=states.CANCELLED, last_error="campaign cancelled", updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        lifecycle.reconcile(session, campaign)
        live = lifecycle.counts(session, campaign)
        text = f"Campaign cancelled. Sent: {live['sent']}, Failed: {live['failed']}"
        lifecycle.record_status(services, session, campaign, text, level="warning")
        channel = campaign.channel
    services.dispatchers.campaign_stopped(account_id, channel, campaign_id)


def requeue(services: Services, account_id: int, campaign_id: int, status: str) -> int:
    """Put the campaign's `failed` (retry-failed) or `uncertain` (requeue-uncertain) messages back in the queue.

    A completed campaign runs again; a paused one stays paused with its messages queued. Returns how many.
    Failures the provider will never accept (`failure_kind` `permanent`: a hard bounce, an invalid number) stay
    failed: `not_retryable` says how many and why.
    """
    return int(requeue_report(services, account_id, campaign_id, status)["requeued"])


#: the most distinct reasons `not_retryable_reasons` lists.
MAX_REASONS = 5


def not_retryable(session: Session, account_id: int, campaign_id: int) -> dict[str, Any]:
    """How many failed messages of a campaign are permanent failures, and their commonest reasons."""
    rows = session.execute(
        select(Message.last_error, func.count())
        .where(
            lifecycle.of_campaign(campaign_id, account_id),
            Message.status == states.FAILED,
            Message.failure_kind == "permanent",
        )
        .group_by(Message.last_error)
        .order_by(func.count().desc())
    ).all()
    total = sum(int(n) for _, n in rows)
    reasons = [{"reason": reason or "refused for good", "count": int(n)} for reason, n in rows[:MAX_REASONS]]
    return {"not_retryable": total, "not_retryable_reasons": reasons}


def requeue_report(services: Services, account_id: int, campaign_id: int, status: str) -> dict[str, Any]:
    """`requeue`, with what it left alone: {requeued, not_retryable, not_retryable_reasons, message}."""
    with services.db.write() as session:
        campaign = load(session, account_id, campaign_id)
        if campaign.status in (states.CANCELLED, states.DRAFT):
            raise conflict(f"This campaign is {campaign.status}; nothing can be re-sent.")
        now = utcnow()
        conditions = [lifecycle.of_campaign(campaign_id, account_id), Message.status == status]
        if status == states.FAILED:
            conditions.append(or_(Message.failure_kind.is_(None), Message.failure_kind != "permanent"))
        moved = session.execute(
            update(Message)
            .where(*conditions)
            .values(
                status=states.QUEUED,
                attempts=0,
                next_attempt_at=now,
                last_error=None,
                failure_kind=None,
                reconcile_state=None,
                reconcile_next_at=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        left = not_retryable(session, account_id, campaign_id) if status == "failed" else {}
        lifecycle.reconcile(session, campaign)
        if moved and campaign.status == states.COMPLETED:
            campaign.status, campaign.completed_at, campaign.consecutive_errors = states.RUNNING, None, 0
            session.flush()
            lifecycle.record_status(services, session, campaign, sending_text(moved))
        elif moved:
            what = states.FAILED if status == states.FAILED else states.UNCERTAIN
            lifecycle.record_status(services, session, campaign, f"{moved} {what} messages queued again")
        channel = campaign.channel
    if moved:
        services.dispatchers.wake(account_id, channel)
    report: dict[str, Any] = {"requeued": int(moved), **left}
    report["message"] = requeue_sentence(status, int(moved), left.get("not_retryable", 0))
    return report


def requeue_sentence(status: str, moved: int, kept: int) -> str:
    what = "failed" if status == states.FAILED else "uncertain"
    text = f"{moved} {what} {'message' if moved == 1 else 'messages'} queued again."
    if kept:
        text += (
            f" {kept} not retried: the provider refused {'it' if kept == 1 else 'them'} for good "
            f"(a hard bounce or an invalid address), so sending again would fail the same way."
        )
    return text
