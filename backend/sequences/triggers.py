"""Triggers: who enters a running sequence by themselves.

- `tag_added`: a tag put on a contact after the sequence started, by any path (the API, bulk tagging, import),
  read from `contact_tags.created_at` (the database's clock) since the trigger last looked, less a margin for
  transactions that committed late; the enrolment's own uniqueness makes looking twice harmless.
- `contact_created`: a contact created after the sequence started, read the same way from `contacts.created_at`.
- `inbound_message`: called by the inbound path in the message's own transaction (`on_inbound`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from backend.channels.families import family_of
from backend.sequences import progress
from backend.sequences.enroll import CONTACTS, enroll
from backend.store import states
from backend.store.models import Campaign, ContactTag, utcnow

if TYPE_CHECKING:
    from backend.services import Services

LINKS = cast(Table, ContactTag.__table__)
#: how far back each look reaches before the last one (a transaction that began earlier may commit later).
MARGIN = timedelta(minutes=2)
WATCHED = ("tag_added", "contact_created")


def watching(session: Session) -> list[int]:
    """The running sequences whose trigger is read by the job (tag added, contact created)."""
    running = session.execute(
        select(Campaign.id, Campaign.sequence).where(Campaign.kind == "sequence", Campaign.status == states.RUNNING)
    ).all()
    return [cid for cid, seq in running if ((seq or {}).get("trigger") or {}).get("type") in WATCHED]


def enroll_new(services: Services, ids: list[int]) -> int:
    """Enrol the contacts tagged or created since each of these sequences' trigger last looked."""
    enrolled = 0
    for campaign_id in ids:
        with services.db.write() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.status != states.RUNNING:
                continue
            enrolled += _look(services, session, campaign)
    return enrolled


def _look(services: Services, session: Session, campaign: Campaign) -> int:
    upto = utcnow()  # the clock `created_at` columns are written with, not the app's (tests move that one)
    started = campaign.started_at or upto
    since = max(started, (campaign.trigger_checked_at or started) - MARGIN)
    trigger = (campaign.sequence or {}).get("trigger") or {}
    now = services.clock()
    if trigger["type"] == "tag_added":
        link = LINKS.c
        chosen = (link.tag_id == trigger["tag_id"]) & (link.contact_id == CONTACTS.c.id) & (link.created_at >= since)
        count = enroll(session, campaign, chosen, now, "tag_added", trigger_at=link.created_at, extra_from=LINKS)
    else:
        chosen = CONTACTS.c.created_at >= since
        count = enroll(session, campaign, chosen, now, "contact_created", trigger_at=CONTACTS.c.created_at)
    session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id)
        .values(trigger_checked_at=upto)
        .execution_options(synchronize_session=False)
    )
    if count:
        services.hub.record(
            session,
            campaign.account_id,
            "sequence.enrolled",
            f"{count} contact{'s' if count != 1 else ''} entered the sequence {campaign.name}",
            data={"campaign_id": campaign.id, "enrolled": count, "source": trigger["type"]},
        )
    return count


def on_inbound(services: Services, session: Session, account_id: int, contact_id: int, channel: str) -> None:
    """A real (not automatic) inbound message from `contact_id` on `channel`: the contact leaves the sequences
    that exit on a reply, then enters the running ones an inbound message triggers."""
    progress.exit_contact(services, session, contact_id, "reply")
    family = family_of(channel)
    for campaign in session.scalars(
        select(Campaign).where(
            Campaign.account_id == account_id, Campaign.kind == "sequence", Campaign.status == states.RUNNING
        )
    ):
        trigger = (campaign.sequence or {}).get("trigger") or {}
        if trigger.get("type") != "inbound_message" or trigger.get("channel") not in (None, family):
            continue
        enroll(session, campaign, CONTACTS.c.id == contact_id, services.clock(), "inbound_message")
