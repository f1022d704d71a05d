"""Enrolling contacts into a sequence: by hand (`contact_ids`, a `filter` or a `segment_id`) or by its trigger.

One INSERT ... SELECT per call, in the caller's transaction: a contact is enrolled once (a second tagging does
nothing) unless the sequence allows re-entry, and then never twice at a time. The unique constraints decide
between two processes enrolling one contact together (`ON CONFLICT DO NOTHING`): whoever commits second adds
nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.channels.registry import channel_class
from backend.store.models import Campaign, Contact
from backend.store.models.sequences import ACTIVE, SequenceEnrollment

CONTACTS = cast(Table, Contact.__table__)
ENROLLMENTS = cast(Table, SequenceEnrollment.__table__)


def has_address(channel: str) -> ColumnElement[bool]:
    column = CONTACTS.c.email if channel_class(channel).recipient_kind == "email" else CONTACTS.c.phone
    return and_(column.is_not(None), column != "")


def not_enrolled(campaign: Campaign, trigger_at: Any = None) -> ColumnElement[bool]:
    """Contacts this sequence may enrol now: never enrolled; with re-entry, not active and (for a trigger) not
    enrolled already by this same tagging."""
    e = ENROLLMENTS.c
    mine = and_(e.campaign_id == campaign.id, e.contact_id == CONTACTS.c.id)
    if not (campaign.sequence or {}).get("reenter"):
        return ~select(e.id).where(mine).exists()
    blocking = e.status == ACTIVE
    if trigger_at is not None:
        blocking = or_(blocking, e.trigger_at >= trigger_at)
    return ~select(e.id).where(mine, blocking).exists()


def enroll(
    session: Session,
    campaign: Campaign,
    chosen: ColumnElement[bool],
    now: datetime,
    source: str,
    *,
    trigger_at: Any = None,
    extra_from: Any = None,
) -> int:
    """Enrol the contacts `chosen` selects (a condition over contacts holding the account) that have an address
    for the channel and may enter; returns how many were enrolled. `trigger_at` is a column or value giving
    when the trigger happened; `extra_from` a table joined for it (the tag links)."""
    steps = (campaign.sequence or {}).get("steps") or [{"wait_s": 0}]
    first_due = now + timedelta(seconds=int(steps[0]["wait_s"]))
    e = ENROLLMENTS.c
    entry = (
        select(func.coalesce(func.max(e.entry), 0) + 1)
        .where(e.campaign_id == campaign.id, e.contact_id == CONTACTS.c.id)
        .scalar_subquery()
    )
    columns = [
        literal(campaign.account_id),
        literal(campaign.id),
        CONTACTS.c.id,
        entry,
        literal(ACTIVE),
        literal(0),
        literal(first_due, type_=e.next_at.type),
        literal(source),
        trigger_at if trigger_at is not None else literal(None, type_=e.trigger_at.type),
        literal(now, type_=e.enrolled_at.type),
        literal(now, type_=e.updated_at.type),
    ]
    names = [
        "account_id",
        "campaign_id",
        "contact_id",
        "entry",
        "status",
        "step",
        "next_at",
        "source",
        "trigger_at",
        "enrolled_at",
        "updated_at",
    ]
    query = select(*columns).select_from(CONTACTS)
    if extra_from is not None:
        query = query.select_from(extra_from)
    query = query.where(
        chosen,
        CONTACTS.c.account_id == campaign.account_id,
        has_address(campaign.channel),
        not_enrolled(campaign, trigger_at),
    )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # RETURNING counts what was inserted on both databases (psycopg's rowcount of INSERT ... SELECT is -1 here).
    stmt = insert(ENROLLMENTS).from_select(names, query).on_conflict_do_nothing().returning(ENROLLMENTS.c.id)
    return len(session.execute(stmt).all())


def count_chosen(session: Session, campaign: Campaign, chosen: ColumnElement[bool]) -> tuple[int, int]:
    """(how many contacts `chosen` selects, how many of them have no address for the channel)."""
    total, reachable = session.execute(
        select(func.count(), func.count().filter(has_address(campaign.channel)))
        .select_from(CONTACTS)
        .where(chosen, CONTACTS.c.account_id == campaign.account_id)
    ).one()
    return int(total), int(total - reachable)
