"""What a receiver gets for an event of the log: `{"type", "timestamp", "data"}` (DESIGN section 17).

Types: `message.created`, `message.updated`, `campaign.status`, `contact.opted_out`, `contact.opted_in`,
`channel.status`, `webhook.test`, `webhook.disabled`, and for sequences `sequence.enrolled` and `sequence.exited`.
The dispatcher writes a send's outcome as `send.progress`
(and the delivery job writes `message.updated` for delivery changes): a `send.progress` whose status is `sent`,
`failed` or `uncertain` becomes a `message.updated` carrying the message as `GET /api/messages/<id>` shows it,
so an integration learns how every message went. Without `include_body`, a message's `body`, `html_body` and
`subject` are left out.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.events import refs
from backend.store.models import Message
from backend.views import iso, message_view

WEBHOOK_TYPES = (
    "message.created",
    "message.updated",
    "campaign.status",
    "contact.opted_out",
    "contact.opted_in",
    "channel.status",
    "webhook.test",
    "webhook.disabled",
    # sequences (DESIGN section 18): contacts entering one (by hand or by its trigger) and leaving it early.
    "sequence.enrolled",
    "sequence.exited",
)
#: event types of the log that become webhooks (send.progress as message.updated).
LOG_TYPES = (*[t for t in WEBHOOK_TYPES if t != "webhook.test"], "send.progress")
OUTCOMES = frozenset({"sent", "failed", "uncertain"})
BODY_FIELDS = ("body", "html_body", "subject")


def webhook_type(event_type: str, data: dict[str, Any]) -> str | None:
    """The webhook type an event of the log becomes, or None (a `send.progress` that is not an outcome)."""
    if event_type == "send.progress":
        return "message.updated" if data.get("status") in OUTCOMES else None
    return event_type if event_type in WEBHOOK_TYPES else None


def wanted(events: list[str], type_: str) -> bool:
    return "*" in events or type_ in events


def strip_bodies(data: dict[str, Any]) -> dict[str, Any]:
    message = data.get("message")
    if not isinstance(message, dict):
        return data
    return {**data, "message": {k: v for k, v in message.items() if k not in BODY_FIELDS}}


def encode(type_: str, timestamp: datetime, data: dict[str, Any]) -> str:
    """The exact body sent on every attempt."""
    return json.dumps(
        {"type": type_, "timestamp": iso(timestamp), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def messages_for(session: Session, events: list[Any]) -> dict[int, dict[str, Any]]:
    """The current view of every message a `send.progress` outcome or a `message.updated` reference
    (backend/events/refs.py) among `events` names (one query)."""
    ids = {
        int(ev.data["message_id"])
        for ev in events
        if ev.type == "send.progress" and isinstance((ev.data or {}).get("message_id"), int)
    } | {ref for ev in events if (ref := refs.ref_of(ev.type, ev.data)) is not None}
    if not ids:
        return {}
    rows = session.scalars(select(Message).where(Message.id.in_(ids))).all()
    return {row.id: message_view(row) for row in rows}


def event_data(ev: Any, messages: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    """The `data` of the webhook an event becomes (before bodies are stripped); None to skip it."""
    data = dict(ev.data or {})
    if refs.ref_of(ev.type, data) is not None:
        return refs.event_data(ev.type, data, messages) if data["message_id"] in messages else None
    if ev.type != "send.progress":
        return data
    view = messages.get(data.get("message_id", -1))
    if view is None:
        return None
    extra = {k: data[k] for k in ("campaign_id", "conversation_id") if k in data}
    return {"message": view, **extra}
