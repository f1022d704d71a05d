"""Writing a checked batch: one fenced statement for the settled rows, one for the rescheduled, one for events.

`settle_due` settles due messages that already have a final communication directly, without a lease: fenced by
row locks (PostgreSQL: SKIP LOCKED) and by `delivered IS NULL AND NOT delivery_expired`. Every other write is
fenced on the lease owner: a row whose lease expired and was taken by another worker is left
alone, so a stale worker's late write changes nothing. Values travel as one JSON array (SQLite, read with
json_each) or as arrays (PostgreSQL, read with unnest), so a batch of 10,000 is one statement, not 10,000.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, literal_column, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from backend.jobs.delivery.store import COMMUNICATIONS, MESSAGES, PENDING, dialect_of, due_with_final
from backend.store.models import UTCDateTime


@dataclass(frozen=True, slots=True)
class Reschedule:
    """A message with no final status yet: its check count and next check."""

    message_id: int
    check_attempts: int
    next_check_at: datetime


def payload_datetime(session: Session) -> Callable[[datetime | None], str | None]:
    """A UTC datetime as text inside a JSON payload, exactly as this dialect stores or parses it."""
    dialect = session.get_bind().dialect
    processor = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    if dialect.name == "sqlite" and processor is not None:
        return processor  # SQLite keeps datetimes as this text, and compares them as text
    return lambda value: None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _rows(session: Session, columns: str) -> str:
    """A FROM item reading the JSON array `:payload` as rows: `columns` is "name type, ..." by position."""
    pairs = [item.strip().split() for item in columns.split(",")]
    if dialect_of(session) == "postgresql":
        picks = ", ".join(f"CAST(v ->> {i} AS {kind}) AS {name}" for i, (name, kind) in enumerate(pairs))
        return f"(SELECT {picks} FROM json_array_elements(CAST(:payload AS json)) AS v)"
    picks = ", ".join(f"value ->> {i} AS {name}" for i, (name, _kind) in enumerate(pairs))
    return f"(SELECT {picks} FROM json_each(:payload))"


def _param_datetime(session: Session, name: str) -> str:
    """A datetime parameter given as payload text (see payload_datetime)."""
    return f"CAST(:{name} AS timestamp)" if dialect_of(session) == "postgresql" else f":{name}"


def settle_from_communications(
    session: Session, message_ids: Sequence[int], *, owner: str, now: datetime
) -> dict[int, bool]:
    """Match the batch with each message's first final communication and settle those that have one, in one
    statement (the match happens inside it); fenced on `owner`. Returns {message id: delivered} of those."""
    if not message_ids:
        return {}
    if dialect_of(session) == "postgresql":
        finals = f"""
            SELECT DISTINCT ON (message_id) message_id, id, success, received_at FROM communications
            WHERE message_id IN ({_ids(session)}) AND success IS NOT NULL
            ORDER BY message_id, id"""
        add_communication = "messages.metadata || jsonb_build_object('communication_id', f.id)"
    else:
        # SQLite returns the other columns of the row holding min(id) (its documented bare-column rule).
        finals = f"""
            SELECT message_id, min(id) AS id, success, received_at FROM communications
            WHERE message_id IN ({_ids(session)}) AND success IS NOT NULL
            GROUP BY message_id"""
        add_communication = "json_set(messages.metadata, '$.communication_id', f.id)"
    sql = f"""
        UPDATE messages SET
            delivered = f.success,
            delivered_at = CASE WHEN f.success THEN f.received_at ELSE messages.delivered_at END,
            metadata = {add_communication},
            delivery_lease_owner = NULL,
            delivery_lease_until = NULL,
            updated_at = {_param_datetime(session, "now")}
        FROM ({finals}) AS f
        WHERE messages.id = f.message_id AND messages.delivery_lease_owner = :owner
        RETURNING messages.id, messages.delivered
    """
    params = {"ids": json.dumps(list(message_ids)), "owner": owner, "now": payload_datetime(session)(now)}
    return {message_id: bool(delivered) for message_id, delivered in session.execute(text(sql), params)}


def settle_due(
    session: Session, *, due_by: datetime, now: datetime, limit: int, account_id: int | None = None
) -> dict[int, bool]:
    """Settle, in one statement, up to `limit` messages due by `due_by` (the claim's terms: not leased by a live
    worker) that already have a final communication, with the values `settle_from_communications` writes
    (delivered, delivered_at, metadata.communication_id = the first final communication by id, lease cleared,
    updated_at). The UPDATE is fenced on the row still being sent with its delivery unknown and not expired, so
    a row settled meanwhile by another job is left alone. Returns {message id: delivered} of those settled."""
    m, c = MESSAGES.c, COMMUNICATIONS.c
    due = due_with_final(session, due_by=due_by, now=now, limit=limit, account_id=account_id)
    metadata = m["metadata"]
    if dialect_of(session) == "postgresql":
        finals = (
            select(c.message_id, c.id, c.success, c.received_at)
            .where(c.message_id.in_(select(due.cte("due").c.id)), c.success.is_not(None))
            .ext(distinct_on(c.message_id))
            .order_by(c.message_id, c.id)
            .subquery("f")
        )
        new_metadata: Any = metadata.op("||")(
            func.jsonb_build_object(literal_column("'communication_id'"), finals.c.id)
        )
    else:
        # SQLite returns the other columns of the row holding min(id) (its documented bare-column rule).
        finals = (
            select(c.message_id, func.min(c.id).label("id"), c.success, c.received_at)
            .where(c.message_id.in_(due.scalar_subquery()), c.success.is_not(None))
            .group_by(c.message_id)
            .subquery("f")
        )
        new_metadata = func.json_set(metadata, literal_column("'$.communication_id'"), finals.c.id)
    stmt = (
        update(MESSAGES)
        .where(m.id == finals.c.message_id, text(PENDING[dialect_of(session)]))
        .values(
            {
                m.delivered: finals.c.success,
                m.delivered_at: case((finals.c.success, finals.c.received_at), else_=m.delivered_at),
                metadata: new_metadata,
                m.delivery_lease_owner: None,
                m.delivery_lease_until: None,
                m.updated_at: now,
            }
        )
        .returning(m.id, m.delivered)
    )
    return {message_id: bool(delivered) for message_id, delivered in session.execute(stmt)}


def expire(session: Session, message_ids: Sequence[int], *, owner: str, now: datetime) -> list[int]:
    """Delivery unknown for good (checked MAX_DELIVERY_CHECKS times): `expired`, lease ended, where the lease is
    still `owner`'s; returns those ids."""
    if not message_ids:
        return []
    expired = "true" if dialect_of(session) == "postgresql" else "1"
    sql = f"""
        UPDATE messages SET
            delivery_expired = {expired},
            delivery_lease_owner = NULL,
            delivery_lease_until = NULL,
            updated_at = {_param_datetime(session, "now")}
        WHERE id IN ({_ids(session)}) AND delivery_lease_owner = :owner
        RETURNING id
    """
    params = {"ids": json.dumps(list(message_ids)), "owner": owner, "now": payload_datetime(session)(now)}
    return list(session.scalars(text(sql), params))


def _ids(session: Session) -> str:
    """A subquery reading the JSON array `:ids` of message ids."""
    if dialect_of(session) == "postgresql":
        return "SELECT CAST(value AS bigint) FROM json_array_elements_text(CAST(:ids AS json))"
    return "SELECT value FROM json_each(:ids)"


def reschedule(session: Session, reschedules: Sequence[Reschedule], *, owner: str) -> int:
    """Write each message's next check and end its lease, where the lease is still `owner`'s; returns how many."""
    if not reschedules:
        return 0
    at = payload_datetime(session)
    sql = f"""
        UPDATE messages SET
            delivery_check_attempts = v.attempts,
            delivery_next_check_at = v.next_at,
            delivery_lease_owner = NULL,
            delivery_lease_until = NULL
        FROM {_rows(session, "id bigint, attempts integer, next_at timestamp")} AS v
        WHERE messages.id = v.id AND messages.delivery_lease_owner = :owner
    """
    payload = json.dumps([[r.message_id, r.check_attempts, at(r.next_check_at)] for r in reschedules])
    result = session.execute(text(sql), {"payload": payload, "owner": owner})
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
