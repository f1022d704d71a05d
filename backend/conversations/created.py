"""The `message.created` event of a message in a conversation (a reply we queued, a message we received), written
in the same transaction as the row (pushed to `/ws` after commit): {message, conversation_id}."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.events.hub import EventHub
from backend.store.models import Message
from backend.views import message_view


def record_created(
    hub: EventHub, session: Session, message: Message, text: str, conversation_id: str
) -> dict[str, Any]:
    """Record `message.created` for `message` (flushed) and return its view."""
    view = message_view(message)
    hub.record(
        session, message.account_id, "message.created", text, data={"message": view, "conversation_id": conversation_id}
    )
    return view
