"""How stored rows look in the API and in events (one shape everywhere)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backend.store import states
from backend.store.models import Message

#: `delivered` check attempts after which delivery is `expired` (unknown for good), DESIGN section 6.
MAX_DELIVERY_CHECKS = 10


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def delivery_state(message: Message) -> states.DeliveryState:
    """`pending` `delivered` `undelivered` `expired` `untracked` (DESIGN section 9).

    `untracked`: a received message, or one sent on a channel with no delivery source; the latter has no next
    delivery check at all (`delivery_next_check_at` null), so the delivery job never claims it and it never
    expires. A bounce or a callback that does arrive still settles it."""
    if message.direction == "in":
        return "untracked"
    if message.delivered is True:
        return "delivered"
    if message.delivered is False:
        return "undelivered"
    if message.delivery_expired:
        return "expired"
    if message.status == "sent" and message.delivery_next_check_at is None:
        return "untracked"
    return "pending"


def message_view(message: Message) -> dict[str, Any]:
    """A message as `GET /api/messages/<id>` returns it and `message.updated` carries it."""
    meta = dict(message.meta or {})
    return {
        "id": message.id,
        "source": message.channel,
        "channel": message.channel,
        "direction": message.direction or "out",
        "sender_type": message.sender_type,
        "sender_id": message.sender_id,
        "campaign_id": message.campaign_id,
        "contact_id": message.contact_id,
        "recipient": message.recipient,
        "recipient_name": message.recipient_name,
        "subject": message.subject,
        "body": message.body,
        "status": message.status,
        "attempts": message.attempts,
        "last_error": message.last_error,
        "failure_kind": message.failure_kind,
        "reconcile_state": message.reconcile_state,
        "provider_message_id": message.provider_message_id,
        "delivered": message.delivered,
        "delivery": delivery_state(message),
        "metadata": {"communication_id": meta.get("communication_id"), **meta},
        "created_at": iso(message.created_at),
        "sent_at": iso(message.sent_at),
        "delivered_at": iso(message.delivered_at),
        "updated_at": iso(message.updated_at),
    }
