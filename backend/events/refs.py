"""Events that name a message instead of carrying it, and how every reader puts the message back.

The delivery job settles up to 100,000 messages in one sweep; writing each message's whole view into its
`message.updated` event (about 650 bytes of JSON, built row by row) cost more than the sweep's own work. So the
job writes `data = {"message_id": N, "delivered": ..., "expired": ...}` (a reference with the delivery outcome it
announces) and every reader of the event log turns it into the contract's `data = {"message": <the message as
GET /api/messages/<id> returns it>}` with one query per page: the hub's pump, `GET /api/events`, the socket's
replay and catch-up, outgoing webhooks. The view is the message as stored when the event is read, with the
delivery outcome as it was when the event was written: an event that announced "delayed" still says so after a
later bounce settled the message. A message deleted since keeps the bare reference.
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
    """An event's `data` as the contract has it: a reference becomes `{"message": view}` when the view is known,
    the view's delivery outcome the one the event recorded."""
    ref = ref_of(type_, data)
    if ref is not None and ref in views:
        return {"message": at_event_time(views[ref], data)}
    return data or {}


def at_event_time(view: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The view with the delivery outcome the reference recorded (a reference without one: the view as it is)."""
    if "delivered" not in data:
        return view
    delivered = None if data["delivered"] is None else bool(data["delivered"])
    if delivered == view["delivered"]:
        return view
    if delivered is None:
        # Not settled when the event was written: pending, or expired (a received message never has a reference).
        delivery = "expired" if data.get("expired") else "pending"
    else:
        delivery = "delivered" if delivered else "undelivered"
    return {
        **view,
        "delivered": delivered,
        "delivery": delivery,
        "delivered_at": view["delivered_at"] if delivered is not None else None,
    }
