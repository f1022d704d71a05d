"""Events that name a message instead of carrying it, and how every reader puts the message back.

The delivery job settles up to 100,000 messages in one sweep; writing each message's whole view into its
`message.updated` event (about 650 bytes of JSON, built row by row) cost more than the sweep's own work. So the
job writes `data = {"message_id": N}` (a reference) and every reader of the event log turns it into the
contract's `data = {"message": <the message as GET /api/messages/<id> returns it>}` with one query per page: the
hub's pump, `GET /api/events`, the socket's replay and catch-up, outgoing webhooks. The view is the message as
stored when the event is read, which is what `GET /api/messages/<id>` would answer then (a settled delivery is
final, so it is the outcome the event announces). A message deleted since keeps the bare reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.store.models import Message
from backend.views import message_view

#: the event type that may name its message instead of carrying it.
REF_TYPE = "message.updated"
REF_KEY = "message_id"


def ref_of(type_: str, data: Any) -> int | None:
    """The message id a reference event names, or None for an event that carries its data."""
    if type_ != REF_TYPE or not isinstance(data, dict) or "message" in data:
        return None
    value = data.get(REF_KEY)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def message_views(session: Session, events: Iterable[Any]) -> dict[int, dict[str, Any]]:
    """The current view of every message the reference events among `events` name (one query)."""
    ids = {ref for ev in events if (ref := ref_of(ev.type, ev.data)) is not None}
    if not ids:
        return {}
    return {m.id: message_view(m) for m in session.scalars(select(Message).where(Message.id.in_(ids)))}


def event_data(type_: str, data: Any, views: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """An event's `data` as the contract has it: a reference becomes `{"message": view}` when the view is known."""
    ref = ref_of(type_, data)
    if ref is not None and ref in views:
        return {"message": views[ref]}
    return data or {}
