"""Writing a checked batch: one fenced statement for the settled rows, one for the rescheduled, one for events.

Every write is fenced on the lease owner: a row whose lease expired and was taken by another worker is left
alone, so a stale worker's late write changes nothing. Values travel as one JSON array (SQLite, read with
json_each) or as arrays (PostgreSQL, read with unnest), so a batch of 10,000 is one statement, not 10,000.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.jobs.delivery_store import MESSAGES, dialect_of
from backend.store.models import UTCDateTime

#: the columns `backend.views.message_view` reads, returned by the settling update.
VIEW_COLUMNS = (
    "id",
    "account_id",
    "channel",
    "recipient",
    "recipient_name",
    "contact_id",
    "campaign_id",
    "subject",
    "body",
    "sender_type",
    "sender_id",
    "status",
    "attempts",
    "last_error",
    "provider_message_id",
    "delivered",
    "delivery_expired",
    "metadata",
    "created_at",
    "updated_at",
    "sent_at",
    "delivered_at",
)


@dataclass(slots=True)
class MessageRow:
    """A message as stored after settling, with `Message`'s attribute names so `message_view()` renders it."""

    id: int
    account_id: int
    channel: str
    recipient: str
    recipient_name: str | None
    contact_id: int | None
    campaign_id: int | None
    subject: str | None
    body: str
    sender_type: str
    sender_id: str
    status: str
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    delivered: bool | None
    delivery_expired: bool
    meta: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True, slots=True)
class Settlement:
    """A message whose delivery is now known (delivered true/false, with its communication) or expired."""

    message_id: int
    delivered: bool | None
    delivered_at: datetime | None = None
    communication_id: int | None = None
    expired: bool = False


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


def _returning_view(table: str) -> str:
    return ", ".join(f"{table}.{name}" for name in VIEW_COLUMNS)


def settle(session: Session, settlements: Sequence[Settlement], *, owner: str, now: datetime) -> list[MessageRow]:
    """Write each settlement and end its lease where the lease is still `owner`'s; returns those rows as stored."""
    if not settlements:
        return []
    at = payload_datetime(session)
    rows = _rows(session, "id bigint, delivered boolean, delivered_at timestamp, cid bigint, expired boolean")
    if dialect_of(session) == "postgresql":
        add_communication = "messages.metadata || jsonb_build_object('communication_id', v.cid)"
    else:
        add_communication = "json_set(messages.metadata, '$.communication_id', v.cid)"
    sql = f"""
        UPDATE messages SET
            delivered = v.delivered,
            delivered_at = COALESCE(v.delivered_at, messages.delivered_at),
            metadata = CASE WHEN v.cid IS NULL THEN messages.metadata ELSE {add_communication} END,
            delivery_expired = v.expired,
            delivery_lease_owner = NULL,
            delivery_lease_until = NULL,
            updated_at = {_param_datetime(session, "now")}
        FROM {rows} AS v
        WHERE messages.id = v.id AND messages.delivery_lease_owner = :owner
        RETURNING {_returning_view("messages")}
    """
    payload = json.dumps(
        [[s.message_id, s.delivered, at(s.delivered_at), s.communication_id, s.expired] for s in settlements]
    )
    stmt = text(sql).columns(*[MESSAGES.c[name] for name in VIEW_COLUMNS])
    result = session.execute(stmt, {"payload": payload, "owner": owner, "now": at(now)})
    return [MessageRow(*row) for row in result]


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


def insert_events(
    session: Session, hub: Any, type_: str, events: Sequence[tuple[int, str, str, dict[str, Any]]], *, now: datetime
) -> None:
    """Add events (account_id, level, text, data) to `session`'s transaction, in order, in one bulk statement.

    The first goes through `hub.record`, which marks the transaction so the hub pushes every new event after
    commit (and issues NOTIFY on PostgreSQL); the rest follow it in one statement.
    """
    if not events:
        return
    account_id, level, text_, data = events[0]
    hub.record(session, account_id, type_, text_, level=level, data=data)
    if len(events) == 1:
        return
    session.flush()  # the first event takes the lowest id
    if dialect_of(session) == "postgresql":
        source = "json_array_elements(CAST(:payload AS json)) WITH ORDINALITY AS e(v, n)"
        picks = "CAST(v ->> 0 AS bigint), :ts, :type, v ->> 1, v ->> 2, CAST(v -> 3 AS jsonb)"
        order = "ORDER BY n"
    else:
        source, picks, order = (
            "json_each(:payload)",
            "value ->> 0, :ts, :type, value ->> 1, value ->> 2, value -> 3",
            "",
        )
    sql = f"INSERT INTO events (account_id, ts, type, level, text, data) SELECT {picks} FROM {source} {order}"
    payload = json.dumps(events[1:])
    session.execute(text(sql), {"payload": payload, "ts": payload_datetime(session)(now), "type": type_})
