"""The `message.updated` events of settled messages, written by the database in one INSERT ... SELECT.

A sweep can settle 100,000 messages; building each message's view in Python and sending it back costs more than
the rest of the sweep together. So the database builds each event from the row it just updated, with the SQL
below, which mirrors `backend.views.message_view` field by field (tests/test_delivery_events.py compares the two
for every field on SQLite and PostgreSQL; change both together). The first event of a batch goes through
`hub.record`, which marks the transaction so the hub pushes the new events after commit (NOTIFY on PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.jobs.delivery.store import PENDING
from backend.jobs.delivery.writes import payload_datetime, settle_due
from backend.store.models import Communication, Message
from backend.views import MAX_DELIVERY_CHECKS, message_view

EVENT_TYPE = "message.updated"

#: message_view's fields in order: (key, SQL column or None for the computed `delivery`).
VIEW_FIELDS = (
    ("id", "id"),
    ("source", "channel"),
    ("channel", "channel"),
    ("direction", "direction"),
    ("sender_type", "sender_type"),
    ("sender_id", "sender_id"),
    ("campaign_id", "campaign_id"),
    ("contact_id", "contact_id"),
    ("recipient", "recipient"),
    ("recipient_name", "recipient_name"),
    ("subject", "subject"),
    ("body", "body"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("last_error", "last_error"),
    ("failure_kind", "failure_kind"),
    ("reconcile_state", "reconcile_state"),
    ("provider_message_id", "provider_message_id"),
    ("delivered", "delivered"),
    ("delivery", None),
    ("metadata", "metadata"),
    ("created_at", "created_at"),
    ("sent_at", "sent_at"),
    ("delivered_at", "delivered_at"),
    ("updated_at", "updated_at"),
)
TIMES = frozenset({"created_at", "sent_at", "delivered_at", "updated_at"})


def event_text(message: Any, communication: Communication | None) -> tuple[str, str]:
    """(text, level) of a settled or expired message's event; `_TEXT_SQL` says the same in SQL."""
    if message.delivered is True:
        return f"Delivered to {message.recipient}", "success"
    if message.delivered is False:
        reason = communication and (
            communication.error_text or communication.error_code or communication.provider_status
        )
        return f"Not delivered to {message.recipient}: {reason or 'undelivered'}", "error"
    return f"No delivery report for {message.recipient} after {MAX_DELIVERY_CHECKS} checks", "warning"


#: the communication is read for an undelivered message only (its reason): a delivered one needs none of it.
_TEXT_SQL = f"""
    CASE WHEN m.delivered IS NULL THEN 'No delivery report for ' || m.recipient || ' after {MAX_DELIVERY_CHECKS} checks'
         WHEN {{true}} THEN 'Delivered to ' || m.recipient
         ELSE 'Not delivered to ' || m.recipient || ': ' || COALESCE(
             (SELECT COALESCE(NULLIF(c.error_text, ''), NULLIF(c.error_code, ''), NULLIF(c.provider_status, ''))
              FROM communications AS c WHERE c.id = {{communication_id}}),
             'undelivered')
    END"""
_LEVEL_SQL = "CASE WHEN m.delivered IS NULL THEN 'warning' WHEN {true} THEN 'success' ELSE 'error' END"
_DELIVERY_SQL = (
    "CASE WHEN m.direction = 'in' THEN 'untracked' "
    "WHEN m.delivered IS NULL THEN (CASE WHEN {expired} THEN 'expired' "
    "WHEN m.status = 'sent' AND m.delivery_next_check_at IS NULL THEN 'untracked' ELSE 'pending' END) "
    "WHEN {true} THEN 'delivered' ELSE 'undelivered' END"
)


def _view_sql(dialect: str) -> str:
    """SQL building `message_view(m)` as JSON."""
    pairs = []
    for key, column in VIEW_FIELDS:
        if column is None:
            value = _DELIVERY_SQL.format(
                true="m.delivered" if dialect == "postgresql" else "m.delivered = 1",
                expired="m.delivery_expired" if dialect == "postgresql" else "m.delivery_expired = 1",
            )
        elif column in TIMES:
            value = _iso_sql(dialect, f"m.{column}")
        elif column == "delivered" and dialect == "sqlite":
            value = "CASE WHEN m.delivered IS NULL THEN NULL ELSE json(IIF(m.delivered = 1, 'true', 'false')) END"
        elif column == "metadata":
            # {"communication_id": <its value or null>, **metadata}
            value = (
                "jsonb_build_object('communication_id', m.metadata -> 'communication_id') || m.metadata"
                if dialect == "postgresql"
                else "json_set(m.metadata, '$.communication_id', m.metadata -> '$.communication_id')"
            )
        else:
            value = f"m.{column}"
        pairs.append(f"'{key}', {value}")
    build = "jsonb_build_object" if dialect == "postgresql" else "json_object"
    return f"{build}({', '.join(pairs)})"


def _iso_sql(dialect: str, column: str) -> str:
    """`backend.views.iso`: ISO 8601 UTC, milliseconds (cut, not rounded), `Z`."""
    if dialect == "postgresql":
        return f"""to_char({column}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""
    # SQLite holds `YYYY-MM-DD HH:MM:SS.ffffff` (SQLAlchemy's text form).
    date, time_ = f"substr({column}, 1, 10)", f"substr({column}, 12, 12)"
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE {date} || 'T' || {time_} || 'Z' END"


def record_updated_events(session: Session, hub: Any, message_ids: Sequence[int], *, now: datetime) -> None:
    """Add a `message.updated` event for each message (as stored now), in id order, in `session`'s transaction."""
    if not message_ids:
        return
    ids = sorted(message_ids)
    first = session.get(Message, ids[0], populate_existing=True)
    assert first is not None
    communication_id = (first.meta or {}).get("communication_id")
    communication = session.get(Communication, communication_id) if communication_id else None
    event_text_, level = event_text(first, communication)
    hub.record(session, first.account_id, EVENT_TYPE, event_text_, level=level, data={"message": message_view(first)})
    if len(ids) == 1:
        return
    session.flush()  # the first event takes the lowest id
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        id_source = "SELECT CAST(value AS bigint) FROM json_array_elements_text(CAST(:ids AS json))"
    else:
        id_source = "SELECT value FROM json_each(:ids)"
    sql = f"""
        INSERT INTO events (account_id, ts, type, level, text, data)
        {_event_select(dialect)}
        FROM messages AS m
        WHERE m.id IN ({id_source})
        ORDER BY m.id
    """
    params = {"ids": json.dumps(ids[1:]), "ts": payload_datetime(session)(now), "type": EVENT_TYPE}
    session.execute(text(sql), params)


def _event_select(dialect: str) -> str:
    """The SELECT list of a `message.updated` event row built from the message row `m` (as stored now)."""
    if dialect == "postgresql":
        communication_id = "CAST(m.metadata ->> 'communication_id' AS bigint)"
        ts, data, true = "CAST(:ts AS timestamp)", f"jsonb_build_object('message', {_view_sql(dialect)})", "m.delivered"
    else:
        communication_id = "m.metadata ->> '$.communication_id'"
        ts, data, true = ":ts", f"json_object('message', {_view_sql(dialect)})", "m.delivered = 1"
    text_sql = _TEXT_SQL.format(true=true, communication_id=communication_id)
    return f"SELECT m.account_id, {ts}, :type, {_LEVEL_SQL.format(true=true)}, {text_sql}, {data}"


def settle_due_with_events(
    session: Session, hub: Any, *, due_by: datetime, now: datetime, limit: int, account_id: int | None = None
) -> dict[int, bool]:
    """`writes.settle_due` and the settled messages' events, in `session`'s transaction.

    On PostgreSQL it is one statement: the UPDATE's RETURNING rows feed the events' INSERT (a data-modifying
    CTE), so the settled rows are not looked up again. Returns {message id: delivered}."""
    if session.get_bind().dialect.name != "postgresql":
        settled = settle_due(session, due_by=due_by, now=now, limit=limit, account_id=account_id)
        record_updated_events(session, hub, list(settled), now=now)
        return settled
    at = payload_datetime(session)
    account = "AND messages.account_id = :account_id" if account_id is not None else ""
    sql = f"""
        WITH due AS (
            SELECT messages.id FROM messages
            WHERE {PENDING["postgresql"]} AND messages.delivery_next_check_at <= CAST(:due_by AS timestamp)
              AND (messages.delivery_lease_until IS NULL OR messages.delivery_lease_until < CAST(:ts AS timestamp))
              {account}
              AND EXISTS (SELECT 1 FROM communications AS c WHERE c.message_id = messages.id AND c.success IS NOT NULL)
            ORDER BY messages.delivery_next_check_at
            LIMIT :limit
            FOR UPDATE OF messages SKIP LOCKED
        ), f AS (
            SELECT DISTINCT ON (c.message_id) c.message_id, c.id, c.success, c.received_at
            FROM communications AS c
            WHERE c.message_id IN (SELECT id FROM due) AND c.success IS NOT NULL
            ORDER BY c.message_id, c.id
        ), m AS (
            UPDATE messages SET
                delivered = f.success,
                delivered_at = CASE WHEN f.success THEN f.received_at ELSE messages.delivered_at END,
                metadata = messages.metadata || jsonb_build_object('communication_id', f.id),
                delivery_lease_owner = NULL,
                delivery_lease_until = NULL,
                updated_at = CAST(:ts AS timestamp)
            FROM f
            WHERE messages.id = f.message_id AND {PENDING["postgresql"]}
            RETURNING messages.*
        ), e AS (
            INSERT INTO events (account_id, ts, type, level, text, data)
            {_event_select("postgresql")}
            FROM m
            ORDER BY m.id
        )
        SELECT id, delivered FROM m
    """
    params: dict[str, Any] = {"due_by": at(due_by), "ts": at(now), "limit": limit, "type": EVENT_TYPE}
    if account_id is not None:
        params["account_id"] = account_id
    settled = {message_id: bool(delivered) for message_id, delivered in session.execute(text(sql), params)}
    if settled:
        hub.recorded_by_sql(session)
    return settled


def stored_view(session: Session, message_id: int) -> dict[str, Any]:
    """`message_view` as the SQL above builds it (for tests that compare the two)."""
    dialect = session.get_bind().dialect.name
    value = session.scalar(text(f"SELECT {_view_sql(dialect)} FROM messages AS m WHERE m.id = :id"), {"id": message_id})
    return value if isinstance(value, dict) else json.loads(value)
