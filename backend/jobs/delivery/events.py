"""The `message.updated` events of settled messages, written by the database in one INSERT ... SELECT.

A sweep can settle 100,000 messages. Each event names its message (`data = {"message_id": N}`, see
backend/events/refs.py) instead of carrying the message's whole view: every reader of the event log (the hub's
pump, `GET /api/events`, the socket's replay, outgoing webhooks) puts the view back, one query a page, so the
contract's `data.message` is unchanged while the sweep writes about 20 bytes of data an event instead of 650
built field by field. The text and level are built by the SQL below (`Delivered to ...`); the hub pushes the new
events after commit (NOTIFY on PostgreSQL).
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
from backend.views import MAX_DELIVERY_CHECKS

EVENT_TYPE = "message.updated"


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


def record_updated_events(session: Session, hub: Any, message_ids: Sequence[int], *, now: datetime) -> None:
    """Add a `message.updated` event for each message (as stored now), in id order, in `session`'s transaction."""
    if not message_ids:
        return
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
    params = {"ids": json.dumps(sorted(message_ids)), "ts": payload_datetime(session)(now), "type": EVENT_TYPE}
    session.execute(text(sql), params)
    hub.recorded_by_sql(session)


def _event_select(dialect: str) -> str:
    """The SELECT list of a `message.updated` event row built from the message row `m` (as stored now)."""
    if dialect == "postgresql":
        communication_id = "CAST(m.metadata ->> 'communication_id' AS bigint)"
        ts, data, true = (
            "CAST(:ts AS timestamp)",
            "jsonb_build_object('message_id', m.id, 'delivered', m.delivered, 'expired', m.delivery_expired)",
            "m.delivered",
        )
    else:
        communication_id = "m.metadata ->> '$.communication_id'"
        ts, data, true = (
            ":ts",
            "json_object('message_id', m.id, 'delivered', m.delivered, 'expired', m.delivery_expired)",
            "m.delivered = 1",
        )
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
            RETURNING messages.id, messages.account_id, messages.delivered, messages.delivery_expired,
              messages.recipient, messages.metadata
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
