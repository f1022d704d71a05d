"""The engine's claim of due enrolments, with a lease, as the dispatcher claims messages (DESIGN section 5).

PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED` in a CTE, then `UPDATE ... RETURNING`; SQLite: `UPDATE ... WHERE
id IN (subquery) RETURNING` under `BEGIN IMMEDIATE`. A claimed enrolment is leased to one owner until its
step's message is written (fenced on the lease) or the lease runs out (a crash): then it is claimable again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Integer, Table, bindparam, literal_column, or_, select, update
from sqlalchemy.orm import Session

from backend.store import states
from backend.store.models import Campaign, UTCDateTime
from backend.store.models.sequences import SequenceEnrollment

ENROLLMENTS = cast(Table, SequenceEnrollment.__table__)
CAMPAIGNS = cast(Table, Campaign.__table__)
SEQUENCE = "sequence"


@dataclass(frozen=True)
class ClaimedEnrollment:
    id: int
    account_id: int
    campaign_id: int
    contact_id: int
    step: int


def _statement(dialect: str) -> Any:
    e = ENROLLMENTS.c
    running = select(CAMPAIGNS.c.id).where(
        CAMPAIGNS.c.kind == literal_column(f"'{SEQUENCE}'"), CAMPAIGNS.c.status == literal_column(f"'{states.RUNNING}'")
    )
    due = (
        select(e.id)
        .where(
            e.status == literal_column("'active'"),
            e.message_id.is_(None),
            e.next_at <= bindparam("p_now", type_=UTCDateTime()),
            or_(e.lease_until.is_(None), e.lease_until < bindparam("p_now", type_=UTCDateTime())),
            e.campaign_id.in_(running),
        )
        .order_by(e.next_at, e.id)
        .limit(bindparam("p_limit", type_=Integer()))
    )
    values = {
        "lease_owner": bindparam("p_owner"),
        "lease_until": bindparam("p_until", type_=UTCDateTime()),
    }
    if dialect == "postgresql":
        cte = due.with_for_update(skip_locked=True, of=ENROLLMENTS).cte("due")
        stmt = update(ENROLLMENTS).where(e.id == cte.c.id).values(**values)
    else:
        stmt = update(ENROLLMENTS).where(e.id.in_(due.scalar_subquery())).values(**values)
    return stmt.returning(e.id, e.account_id, e.campaign_id, e.contact_id, e.step)


def claim_due(session: Session, owner: str, now: datetime, lease_s: float, limit: int) -> list[ClaimedEnrollment]:
    """Claim up to `limit` due enrolments of running sequences (one statement, in `session`'s transaction)."""
    stmt = _statement(session.get_bind().dialect.name)
    params = {"p_now": now, "p_until": now + timedelta(seconds=lease_s), "p_owner": owner, "p_limit": limit}
    rows = session.execute(stmt, params).all()
    return sorted((ClaimedEnrollment(*row) for row in rows), key=lambda c: c.id)


def still_ours(session: Session, ids: list[int], owner: str) -> set[int]:
    """The claimed enrolments whose lease is still `owner`'s and whose step is not made yet (locked on
    PostgreSQL until the transaction ends: a writer that lost its lease writes nothing)."""
    if not ids:
        return set()
    e = ENROLLMENTS.c
    query = select(e.id).where(e.id.in_(ids), e.lease_owner == owner, e.status == "active", e.message_id.is_(None))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return set(session.scalars(query))
