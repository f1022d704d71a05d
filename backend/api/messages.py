"""Single messages: `GET /api/messages/<id>` (DESIGN section 9) and re-queueing a conversation message.

- `GET /api/messages/<id>` -> the message as `backend.views.message_view` shows it; 404 for another
  account's message or none.
- `POST /api/messages/<id>/requeue` puts an `uncertain` or `failed` conversation message back in `queued`
  (the user has checked that the recipient did not get it) and wakes its dispatcher; 409 otherwise. Campaign
  messages are re-queued through their campaign (retry-failed / requeue-uncertain), which keeps its counts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify
from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.errors import conflict, not_found
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store import states
from backend.store.models import Message, utcnow
from backend.views import message_view

bp = Blueprint("messages", __name__)

REQUEUEABLE = (states.UNCERTAIN, states.FAILED)


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


def _services() -> Services:
    return current_services()


def _own_message(session: Session, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None or message.account_id != account_id():
        raise not_found("The message")
    return message


@bp.get("/api/messages/<int:message_id>")
def get_message(message_id: int) -> Any:
    with _services().db.read() as session:
        return jsonify(message_view(_own_message(session, message_id)))


@bp.post("/api/messages/<int:message_id>/requeue")
def requeue_message(message_id: int) -> Any:
    services = _services()
    with services.db.write() as session:
        message = _own_message(session, message_id)
        if message.sender_type != states.CONVERSATION:
            raise conflict("Campaign messages are re-queued from their campaign (retry failed, re-queue uncertain).")
        now = utcnow()
        # Conditional on the status read, so a concurrent change is not overwritten.
        changed = session.execute(
            update(Message)
            .where(Message.id == message.id, Message.status.in_(REQUEUEABLE))
            .values(status=states.QUEUED, attempts=0, next_attempt_at=now, last_error=None, updated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount  # type: ignore[attr-defined]
        if changed != 1:
            raise conflict(f"Only uncertain or failed messages can be re-queued; this one is {message.status}.")
        session.refresh(message)
        view = message_view(message)
        services.hub.record(
            session,
            message.account_id,
            "message.updated",
            f"Queued again for {message.recipient}",
            data={"message": view},
        )
    services.dispatchers.wake(message.account_id, message.channel)
    return jsonify(view)
