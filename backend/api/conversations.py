"""One-to-one support messages (DESIGN section 9): a conversation id is any id the caller uses for a thread.

- `POST /api/conversations/<id>/messages` {source sms|email|whatsapp, to, body, subject?, channel?,
  contact_id?, recipient_name?} -> 201 the message, `queued`; its `message.updated` event commits with it and
  the channel's dispatcher is woken. 400 lists each problem; 409 when the channel is not configured.
- `GET /api/conversations/<id>/messages?status=&limit=&offset=` -> {"items", "total"}, oldest first.
- `GET /api/conversations?limit=&offset=` -> {"items": [{"conversation_id", "message_count", "last_message"}],
  "total"}, the most recently active first.
Every query filters on the caller's account.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, request
from sqlalchemy import func, select

from backend.api.core import int_arg
from backend.api.outgoing import Outgoing, check_conversation_id, check_outgoing
from backend.errors import bad_request, json_body
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store import states
from backend.store.models import Account, Contact, Message, utcnow
from backend.views import message_view

bp = Blueprint("conversations", __name__)

CONVERSATION = "conversation"
STATUSES = states.MESSAGE_STATUSES
MAX_LIMIT = 500


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


def _services() -> Services:
    return current_services()


@bp.post("/api/conversations/<conversation_id>/messages")
def send_conversation_message(conversation_id: str) -> Any:
    check_conversation_id(conversation_id)
    raw = json_body()
    services, account = _services(), account_id()
    with services.db.read() as session:
        default_country = (session.get_one(Account, account).settings or {}).get("default_country")
    manager = services.channels
    outgoing = check_outgoing(raw, default_country, lambda name: manager.is_configured(account, name))
    with services.db.write() as session:
        message = _queue(session, services, account, conversation_id, outgoing)
        view = message_view(message)
    services.dispatchers.wake(account, outgoing.channel)
    return jsonify(view), 201, {"Location": f"/api/messages/{view['id']}"}


def _queue(session: Any, services: Services, account: int, conversation_id: str, outgoing: Outgoing) -> Message:
    if outgoing.contact_id is not None:
        contact = session.get(Contact, outgoing.contact_id)
        if contact is None or contact.account_id != account:
            raise bad_request("There is no such contact.", [{"field": "contact_id", "reason": "no such contact"}])
    now = utcnow()
    message = Message(
        account_id=account,
        channel=outgoing.channel,
        recipient=outgoing.recipient,
        recipient_name=outgoing.recipient_name,
        contact_id=outgoing.contact_id,
        subject=outgoing.subject,
        body=outgoing.body,
        sender_type=CONVERSATION,
        sender_id=conversation_id,
        status=states.QUEUED,
        attempts=0,
        next_attempt_at=now,
        delivery_expired=False,
        delivery_check_attempts=0,
        meta={},
        created_at=now,
        updated_at=now,
    )
    session.add(message)
    session.flush()
    services.hub.record(
        session,
        account,
        "message.updated",
        f"Queued for {outgoing.recipient}",
        data={"message": message_view(message)},
    )
    return message


@bp.get("/api/conversations/<conversation_id>/messages")
def list_conversation_messages(conversation_id: str) -> Any:
    check_conversation_id(conversation_id)
    limit = int_arg("limit", default=100, low=1, high=MAX_LIMIT)
    offset = int_arg("offset", default=0, low=0)
    status = _status_arg()
    conditions = [
        Message.account_id == account_id(),
        Message.sender_type == CONVERSATION,
        Message.sender_id == conversation_id,
    ]
    if status is not None:
        conditions.append(Message.status == status)
    with _services().db.read() as session:
        total = session.scalar(select(func.count()).select_from(Message).where(*conditions))
        rows = session.scalars(select(Message).where(*conditions).order_by(Message.id).limit(limit).offset(offset))
        items = [message_view(m) for m in rows]
    return jsonify({"items": items, "total": total})


@bp.get("/api/conversations")
def list_conversations() -> Any:
    limit = int_arg("limit", default=50, low=1, high=MAX_LIMIT)
    offset = int_arg("offset", default=0, low=0)
    mine = (Message.account_id == account_id(), Message.sender_type == CONVERSATION)
    last = (
        select(Message.sender_id, func.max(Message.id).label("last_id"), func.count().label("count"))
        .where(*mine)
        .group_by(Message.sender_id)
        .subquery()
    )
    with _services().db.read() as session:
        total = session.scalar(select(func.count(func.distinct(Message.sender_id))).where(*mine))
        rows = session.execute(
            select(last.c.sender_id, last.c.count, Message)
            .join(Message, Message.id == last.c.last_id)
            .order_by(last.c.last_id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        items = [
            {"conversation_id": sender_id, "message_count": count, "last_message": message_view(message)}
            for sender_id, count, message in rows
        ]
    return jsonify({"items": items, "total": total})


def _status_arg() -> str | None:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise bad_request(
            f"`status` must be one of {', '.join(STATUSES)}.", [{"field": "status", "reason": "unknown status"}]
        )
    return status
