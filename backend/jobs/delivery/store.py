"""The delivery-status job's statements (DESIGN section 6): set-based, one statement per step and batch.

Every statement here works on a whole batch of messages, so a sweep over 100,000 due messages costs a handful
of statements instead of 100,000 round trips:

- `claim_due`: one UPDATE ... RETURNING takes a lease on up to `limit` due messages (PostgreSQL: a CTE with
  FOR UPDATE SKIP LOCKED; SQLite: `id IN (subquery)` under the BEGIN IMMEDIATE of `db.write()`).
- `due_with_final`: the due messages that already have a final communication, settled without a lease.
- `make_due`: messages that got a new final communication are due now, even in back-off or expired.
- matching with communications and writing outcomes: `writes`; the events: `events`.

The predicates that select "sent, delivery unknown, not expired" are written exactly as the partial index
`ix_messages_delivery_due` is, so both databases read that index and an idle sweep touches no row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, case, func, or_, select, text, update
from sqlalchemy.orm import Session

from backend.store import states
from backend.store.models import Communication, Message

MESSAGES: Table = Message.__table__  # type: ignore[assignment]
COMMUNICATIONS: Table = Communication.__table__  # type: ignore[assignment]

#: the partial index's predicate, per dialect, written as the index is (SQLite only uses a partial index
#: when the query repeats its terms).
PENDING = {
    "sqlite": f"messages.status = '{states.SENT}' AND messages.delivered IS NULL AND messages.delivery_expired = 0",
    "postgresql": f"messages.status = '{states.SENT}' AND messages.delivered IS NULL AND NOT messages.delivery_expired",
}

#: what a claim returns: enough to decide and to poll.
CLAIM_COLUMNS = ("id", "account_id", "channel", "provider_message_id", "delivery_check_attempts", "recipient")


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    """A sent message this job holds the delivery lease of (the outbox's claim is `dispatch.claims.ClaimedMessage`)."""

    id: int
    account_id: int
    channel: str
    provider_message_id: str | None
    delivery_check_attempts: int
    #: kept beside the provider id: a channel never reads the recipient out of an id (WhatsApp's are opaque).
    recipient: str | None = None


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def _pending(session: Session) -> Any:
    return text(PENDING[dialect_of(session)])


def has_due(session: Session, *, due_by: datetime, now: datetime, account_id: int | None = None) -> bool:
    """A read-only probe: is anything due? (An idle sweep then takes no write lock at all.)"""
    query = select(MESSAGES.c.id).where(*_due_conditions(session, due_by, now, account_id)).limit(1)
    return session.execute(query).first() is not None


def _due_conditions(session: Session, due_by: datetime, now: datetime, account_id: int | None) -> list[Any]:
    m = MESSAGES.c
    conditions: list[Any] = [
        _pending(session),
        m.delivery_next_check_at <= due_by,
        or_(m.delivery_lease_until.is_(None), m.delivery_lease_until < now),
    ]
    if account_id is not None:
        conditions.append(m.account_id == account_id)
    return conditions


def claim_due(
    session: Session,
    *,
    owner: str,
    due_by: datetime,
    now: datetime,
    lease_s: float,
    limit: int,
    account_id: int | None = None,
) -> list[DeliveryClaim]:
    """Lease up to `limit` messages due by `due_by` whose lease is free or expired, in one statement.

    Commit right after: the lease is what keeps another worker (thread or process) off these rows.
    """
    m = MESSAGES.c
    due = (
        select(m.id)
        .where(*_due_conditions(session, due_by, now, account_id))
        .order_by(m.delivery_next_check_at)
        .limit(limit)
    )
    values = {"delivery_lease_owner": owner, "delivery_lease_until": now + timedelta(seconds=lease_s)}
    if dialect_of(session) == "postgresql":
        cte = due.with_for_update(skip_locked=True).cte("due")
        stmt = update(MESSAGES).where(m.id == cte.c.id)
    else:
        stmt = update(MESSAGES).where(m.id.in_(due.scalar_subquery()))
    columns = [MESSAGES.c[name] for name in CLAIM_COLUMNS]
    rows = session.execute(stmt.values(**values).returning(*columns)).all()
    return [DeliveryClaim(*row) for row in rows]


def due_with_final(
    session: Session, *, due_by: datetime, now: datetime, limit: int, account_id: int | None = None
) -> Any:
    """The ids of up to `limit` messages due by `due_by` on the claim's exact terms (not leased by a live worker)
    that already have a final communication: they can be settled at once, without a lease. On PostgreSQL the
    rows are locked FOR UPDATE SKIP LOCKED, so two jobs never pick the same row; SQLite's BEGIN IMMEDIATE
    (`db.write()`) serialises writers anyway."""
    m, c = MESSAGES.c, COMMUNICATIONS.c
    has_final = select(c.id).where(c.message_id == m.id, c.success.is_not(None)).exists()
    query = (
        select(m.id)
        .where(*_due_conditions(session, due_by, now, account_id), has_final)
        .order_by(m.delivery_next_check_at)
        .limit(limit)
    )
    if dialect_of(session) == "postgresql":
        query = query.with_for_update(skip_locked=True, of=MESSAGES)
    return query


def reported(session: Session, message_ids: Sequence[int]) -> dict[int, bool]:
    """Which of these messages have communications: {message id: whether one of them is final}."""
    if not message_ids:
        return {}
    c = COMMUNICATIONS.c
    query = (
        select(c.message_id, func.max(case((c.success.is_not(None), 1), else_=0)))
        .where(c.message_id.in_(list(message_ids)))
        .group_by(c.message_id)
    )
    return {message_id: bool(final) for message_id, final in session.execute(query)}


def probe(session: Session, *, due_by: datetime, now: datetime, account_id: int | None = None) -> tuple[int, bool]:
    """An idle sweep's only read, in one statement: the highest communication id, and whether anything is due."""
    due = select(MESSAGES.c.id).where(*_due_conditions(session, due_by, now, account_id)).limit(1).exists()
    top = select(func.max(COMMUNICATIONS.c.id)).scalar_subquery()
    highest, anything_due = session.execute(select(top, due)).one()
    return int(highest or 0), bool(anything_due)


def make_due(session: Session, *, after_id: int, now: datetime, account_id: int | None = None) -> int:
    """Messages with a final communication newer than `after_id` that wait (back-off) or expired: due now.

    This is how a callback settles a message at once, and how a late callback still settles an expired one.
    Returns how many messages were made due.
    """
    m, c = MESSAGES.c, COMMUNICATIONS.c
    expired = "messages.delivery_expired = 1" if dialect_of(session) == "sqlite" else "messages.delivery_expired"
    new_finals = select(c.message_id).where(c.id > after_id, c.success.is_not(None))
    conditions: list[Any] = [
        m.id.in_(new_finals.scalar_subquery()),
        m.status == states.SENT,
        m.delivered.is_(None),
        or_(text(expired), m.delivery_next_check_at > now, m.delivery_next_check_at.is_(None)),
    ]
    if account_id is not None:
        conditions.append(m.account_id == account_id)
    stmt = update(MESSAGES).where(*conditions).values(delivery_expired=False, delivery_next_check_at=now)
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def lease_owners(session: Session) -> list[str]:
    """Every owner that holds a delivery lease now (read through the partial index: pending rows only)."""
    m = MESSAGES.c
    query = select(m.delivery_lease_owner).where(_pending(session), m.delivery_lease_owner.is_not(None)).distinct()
    return [owner for owner in session.scalars(query) if owner]


def release_leases(session: Session, owners: Iterable[str]) -> int:
    """End every delivery lease held by `owners` (processes known to be dead); returns how many."""
    owners = list(owners)
    if not owners:
        return 0
    m = MESSAGES.c
    stmt = (
        update(MESSAGES)
        .where(_pending(session), m.delivery_lease_owner.in_(owners))
        .values(delivery_lease_owner=None, delivery_lease_until=None)
    )
    return int(session.execute(stmt).rowcount or 0)  # type: ignore[attr-defined]


def delivery_counts(session: Session, account_id: int, now: datetime) -> dict[str, Any]:
    """`GET /api/delivery-status` for one account: pending (not leased now), in_progress (leased now),
    delivered, undelivered, expired, untracked (a channel with no delivery source: never checked), and the age
    in seconds of the oldest sent message still pending."""
    m = MESSAGES.c
    untracked = and_(m.delivered.is_(None), m.delivery_expired.is_(False), m.delivery_next_check_at.is_(None))
    unknown = and_(m.delivered.is_(None), m.delivery_expired.is_(False), m.delivery_next_check_at.is_not(None))
    leased = and_(unknown, m.delivery_lease_until.is_not(None), m.delivery_lease_until >= now)

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    row = session.execute(
        select(
            count(and_(unknown, ~leased)),
            count(leased),
            count(m.delivered.is_(True)),
            count(m.delivered.is_(False)),
            count(and_(m.delivered.is_(None), m.delivery_expired.is_(True))),
            func.min(func.coalesce(m.sent_at, m.created_at)).filter(unknown),
            count(untracked),
        ).where(m.account_id == account_id, m.status == states.SENT)
    ).one()
    oldest = row[5]
    return {
        "pending": int(row[0]),
        "in_progress": int(row[1]),
        "delivered": int(row[2]),
        "undelivered": int(row[3]),
        "expired": int(row[4]),
        "untracked": int(row[6]),
        "oldest_pending_s": None if oldest is None else round(max((now - oldest).total_seconds(), 0.0), 3),
    }
