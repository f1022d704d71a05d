"""The campaign job (every few seconds, in every serving process; coordination happens in the database):
start `scheduled` campaigns that are due, resume campaigns a channel paused until a known time (`resume_at`,
e.g. Gmail's daily window), and complete `running` campaigns that have nothing left to send
(the safety net for the dispatcher's own completion check, e.g. when two processes finished the last messages
together, or the last messages were cancelled)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy import select

from backend.campaigns import actions, lifecycle
from backend.errors import ApiError
from backend.store import states
from backend.store.models import Campaign, utcnow

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

INTERVAL_S = 2.0


def run_campaign_job(services: Services) -> None:
    start_due(services)
    resume_due(services)
    complete_finished(services)


def resume_due(services: Services) -> int:
    """`paused` campaigns whose `resume_at` has come: verified and running again (fenced on `paused`, so two
    processes resume one campaign once). A channel that still fails verification keeps it paused, saying why."""
    with services.db.read() as session:
        due = session.execute(
            select(Campaign.id, Campaign.account_id, Campaign.channel).where(
                Campaign.status == states.PAUSED, Campaign.resume_at <= utcnow()
            )
        ).all()
    resumed = 0
    for campaign_id, account_id, channel in due:
        try:
            actions.verify_channel(services, account_id, channel)
        except ApiError as exc:
            with services.db.write() as session:
                campaign = actions.load(session, account_id, campaign_id)
                if campaign.status == states.PAUSED and campaign.resume_at is not None:
                    campaign.resume_at, campaign.status_reason = None, exc.message
                    session.flush()
                    lifecycle.record_status(
                        services, session, campaign, f"Campaign paused: {exc.message}", level="warning"
                    )
            continue
        if actions.begin(services, account_id, campaign_id, (states.PAUSED,)):
            resumed += 1
    return resumed


def start_due(services: Services) -> int:
    with services.db.read() as session:
        due = session.execute(
            select(Campaign.id, Campaign.account_id).where(
                Campaign.status == states.SCHEDULED, Campaign.scheduled_at <= utcnow()
            )
        ).all()
    started = 0
    for campaign_id, account_id in due:
        try:
            with services.db.read() as session:
                channel = actions.load(session, account_id, campaign_id).channel
            actions.verify_channel(services, account_id, channel)
        except ApiError as exc:
            with services.db.write() as session:
                lifecycle.pause(services, session, actions.load(session, account_id, campaign_id), exc.message)
            continue
        if actions.begin(services, account_id, campaign_id, (states.SCHEDULED,)):
            started += 1
    return started


def complete_finished(services: Services) -> int:
    with services.db.read() as session:
        running_now = select(Campaign.id, Campaign.account_id).where(
            Campaign.status == states.RUNNING, Campaign.kind == "campaign"
        )
        running = session.execute(running_now).all()
        candidates = [(cid, aid) for cid, aid in running if not lifecycle.has_unfinished(session, cid, aid)]
    completed = 0
    for campaign_id, _account_id in candidates:
        with services.db.write() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None and lifecycle.complete_if_done(services, session, campaign):
                completed += 1
    return completed


def pause_all_running(services: Services, reason: str) -> None:
    """On a clean stop of the desktop app: running campaigns pause with a reason instead of hanging."""
    with services.db.write() as session:
        for campaign in session.scalars(select(Campaign).where(Campaign.status == states.RUNNING)).all():
            lifecycle.pause(services, session, campaign, reason, level="info")
