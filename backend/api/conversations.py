"""Two-way conversations (DESIGN section 9): one thread per contact, `contact-<contact id>`; any other id a
caller uses for a support thread stays valid.

- `POST /api/conversations/<id>/messages` {source sms|email|whatsapp, to, body, subject?, channel?, contact_id?,
  recipient_name?} -> 201 the message, `queued`; its `message.updated` and `message.created` events commit with
  it and the channel's dispatcher is woken. For `contact-<id>` the contact is implied, and `source` / `to` may
  be left out: the reply goes on the channel the contact last wrote on, else a connected one
  (backend/conversations/reply.py). 400 lists each problem; 409 when no configured channel can send it.
- `GET /api/conversations/<id>/messages?status=&limit=&offset=` -> {"items", "total"} in time order. For
  `contact-<id>`: the campaign messages sent to the contact, one-to-one replies and inbound messages on every
  channel; each carries `channel` and `direction`.
- `GET /api/conversations?limit=&offset=` -> {"items": [{"id", "contact", "last_message", "unread",
  "message_count"}], "total"}, the most recently active first (a thread is listed once a one-to-one message
  was sent or received in it).
- `GET /api/conversations/<id>` -> {"id", "contact", "unread", "reply": {"source", "channel", "to"} | null}.
- `POST /api/conversations/<id>/read` -> {"id", "unread": 0, "marked": n}; a `conversation.read` event tells
  the other open windows.
Every query filters on the caller's account.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, request

from backend.api.core import int_arg
from backend.api.outgoing import Outgoing, check_conversation_id, check_outgoing
from backend.campaigns.attachments import (
    MMS_COUNTRY_PREFIX,
    account_public_url,
    check_attachments,
    check_mms_recipients,
)
from backend.channels.families import EMAIL_CHANNELS
from backend.contacts.service import contact_view
from backend.conversations import threads
from backend.conversations.created import record_created
from backend.conversations.reply import reply_route
from backend.errors import bad_request, conflict, json_body
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store import states
from backend.store.message_rows import message_row
from backend.store.models import Account, Contact, Message, utcnow
from backend.views import message_view

bp = Blueprint("conversations", __name__)

STATUSES = (*states.MESSAGE_STATUSES, states.RECEIVED)
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
    contact_id = _contact_id(conversation_id)
    if contact_id is not None:
        raw = _with_route(services, account, contact_id, raw)
    outgoing = check_outgoing(raw, default_country, lambda name: manager.is_configured(account, name))
    with services.db.read() as session:
        public_url = account_public_url(session, account, services.config.public_url)
        files = check_attachments(session, account, outgoing.channel, raw.get("attachments"), public_url)
    if files.mms:
        check_mms_recipients(0 if outgoing.recipient.startswith(MMS_COUNTRY_PREFIX) else 1)
    with services.db.write() as session:
        message = _queue(session, services, account, conversation_id, outgoing, files.files)
        view = message_view(message)
    services.dispatchers.wake(account, outgoing.channel)
    return jsonify(view), 201, {"Location": f"/api/messages/{view['id']}"}


def _contact_id(conversation_id: str) -> int | None:
    return states.contact_of_thread(conversation_id)


def _own_contact(session: Any, account: int, contact_id: int) -> Contact | None:
    contact = session.get(Contact, contact_id)
    return contact if contact is not None and contact.account_id == account else None


def _with_route(services: Services, account: int, contact_id: int, raw: dict[str, Any]) -> dict[str, Any]:
    """A reply in a contact's thread: the contact implied, and the channel and address chosen when not given."""
    with services.db.read() as session:
        contact = _own_contact(session, account, contact_id)
        if contact is None:
            return raw
        filled = {"contact_id": contact.id, **raw}
        if contact.name and "recipient_name" not in raw:
            filled["recipient_name"] = contact.name[:200]
        if "source" in raw and "to" in raw:
            return filled
        route = reply_route(session, account, contact)
        if "source" not in raw:
            if route is None:
                raise conflict(
                    "No configured channel can reach this contact; configure one under Channels or add an address."
                )
            filled.update(source=route.source, channel=raw.get("channel", route.channel))
        if "to" not in raw:
            source = filled.get("source")
            if route is not None and route.source == source:
                filled["to"] = route.to
            else:
                filled["to"] = contact.email if source == "email" else contact.phone
        if filled.get("source") == "email" and "subject" not in raw:
            subject = threads.last_subject(session, account, contact.id)
            if subject:
                filled["subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        return filled


def _reply_headers(session: Any, account: int, outgoing: Outgoing) -> dict[str, Any]:
    """An email to a contact who wrote to us by email answers their latest mail (In-Reply-To / References), so
    their mail program threads it."""
    if outgoing.channel not in EMAIL_CHANNELS or outgoing.contact_id is None:
        return {}
    answered = threads.last_inbound_mail_id(session, account, outgoing.contact_id)
    return {"headers": {"In-Reply-To": answered, "References": answered}} if answered else {}


def _queue(
    session: Any,
    services: Services,
    account: int,
    conversation_id: str,
    outgoing: Outgoing,
    files: list[dict[str, Any]],
) -> Message:
    if outgoing.contact_id is not None:
        contact = session.get(Contact, outgoing.contact_id)
        if contact is None or contact.account_id != account:
            raise bad_request("There is no such contact.", [{"field": "contact_id", "reason": "no such contact"}])
    row = message_row(
        account_id=account,
        channel=outgoing.channel,
        recipient=outgoing.recipient,
        body=outgoing.body,
        sender_type=states.CONVERSATION,
        sender_id=conversation_id,
        now=utcnow(),
        recipient_name=outgoing.recipient_name,
        contact_id=outgoing.contact_id,
        subject=outgoing.subject,
        meta={**_reply_headers(session, account, outgoing), **({"attachments": files} if files else {})},
    )
    message = Message(**row)
    session.add(message)
    session.flush()
    view = message_view(message)
    services.hub.record(session, account, "message.updated", f"Queued for {outgoing.recipient}", data={"message": view})
    record_created(services.hub, session, message, f"Reply to {outgoing.recipient}", conversation_id)
    return message


@bp.get("/api/conversations/<conversation_id>/messages")
def list_conversation_messages(conversation_id: str) -> Any:
    check_conversation_id(conversation_id)
    limit = int_arg("limit", default=100, low=1, high=MAX_LIMIT)
    offset = int_arg("offset", default=0, low=0)
    status = _status_arg()
    with _services().db.read() as session:
        items, total = threads.thread_messages(
            session, account_id(), conversation_id, _contact_id(conversation_id), status, limit, offset
        )
    return jsonify({"items": items, "total": total})


@bp.get("/api/conversations")
def list_conversations() -> Any:
    limit = int_arg("limit", default=50, low=1, high=MAX_LIMIT)
    offset = int_arg("offset", default=0, low=0)
    with _services().db.read() as session:
        items, total = threads.conversation_list(session, account_id(), limit, offset)
    return jsonify({"items": items, "total": total})


@bp.get("/api/conversations/<conversation_id>")
def get_conversation(conversation_id: str) -> Any:
    check_conversation_id(conversation_id)
    account = account_id()
    contact_id = _contact_id(conversation_id)
    with _services().db.read() as session:
        contact = _own_contact(session, account, contact_id) if contact_id is not None else None
        route = reply_route(session, account, contact) if contact is not None else None
        return jsonify(
            {
                "id": conversation_id,
                "contact": contact_view(contact) if contact is not None else None,
                "unread": threads.unread_count(session, account, conversation_id),
                "reply": None if route is None else {"source": route.source, "channel": route.channel, "to": route.to},
            }
        )


@bp.post("/api/conversations/<conversation_id>/read")
def mark_read(conversation_id: str) -> Any:
    check_conversation_id(conversation_id)
    services, account = _services(), account_id()
    with services.db.write() as session:
        marked = threads.mark_read(session, account, conversation_id)
        if marked:
            services.hub.record(
                session,
                account,
                "conversation.read",
                f"Read {marked} message{'s' if marked != 1 else ''}",
                data={"conversation_id": conversation_id, "unread": 0},
            )
    return jsonify({"id": conversation_id, "unread": 0, "marked": marked})


def _status_arg() -> str | None:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise bad_request(
            f"`status` must be one of {', '.join(STATUSES)}.", [{"field": "status", "reason": "unknown status"}]
        )
    return status
