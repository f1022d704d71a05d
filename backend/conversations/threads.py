"""Reading conversations: a thread's messages in time order, the list of threads, unread counts.

A contact's thread (`contact-<id>`) holds every message with that contact (campaign messages, one-to-one
replies, inbound messages on every channel: `Message.contact_id`) and any conversation message filed under the
id; any other id holds the conversation messages filed under it. Unread = inbound messages not yet read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from backend.channels.families import EMAIL_CHANNELS
from backend.contacts.service import contact_view
from backend.contacts.tags import tags_by_contact
from backend.store import states
from backend.store.models import Contact, Message, utcnow
from backend.views import message_view


def _thread_condition(account_id: int, conversation_id: str, contact_id: int | None) -> Any:
    filed = and_(Message.sender_type == states.CONVERSATION, Message.sender_id == conversation_id)
    mine = Message.account_id == account_id
    if contact_id is None:
        return and_(mine, filed)
    return and_(mine, or_(Message.contact_id == contact_id, filed))


def thread_messages(
    session: Session,
    account_id: int,
    conversation_id: str,
    contact_id: int | None,
    status: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A thread's messages, oldest first (by when they were sent or received), and how many there are."""
    condition = _thread_condition(account_id, conversation_id, contact_id)
    if status is not None:
        condition = and_(condition, Message.status == status)
    total = session.scalar(select(func.count()).select_from(Message).where(condition)) or 0
    rows = session.scalars(
        select(Message)
        .where(condition)
        .order_by(func.coalesce(Message.sent_at, Message.created_at), Message.id)
        .limit(limit)
        .offset(offset)
    )
    return [message_view(m) for m in rows], int(total)


def conversation_list(session: Session, account_id: int, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The threads with one-to-one messages, most recently active first: id, contact, last message, unread."""
    mine = (Message.account_id == account_id, Message.sender_type == states.CONVERSATION)
    last = (
        select(Message.sender_id, func.max(Message.id).label("last_id"), func.count().label("count"))
        .where(*mine)
        .group_by(Message.sender_id)
        .subquery()
    )
    unread = (
        select(Message.sender_id, func.count().label("unread"))
        .where(Message.account_id == account_id, Message.direction == states.INBOUND, Message.read_at.is_(None))
        .group_by(Message.sender_id)
        .subquery()
    )
    total = session.scalar(select(func.count(func.distinct(Message.sender_id))).where(*mine)) or 0
    rows = session.execute(
        select(last.c.sender_id, last.c.count, func.coalesce(unread.c.unread, 0), Message)
        .join(Message, Message.id == last.c.last_id)
        .outerjoin(unread, unread.c.sender_id == last.c.sender_id)
        .order_by(last.c.last_id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    contact_ids = {_contact_of(sender_id) for sender_id, *_ in rows} - {None}
    found = list(session.scalars(select(Contact).where(Contact.account_id == account_id, Contact.id.in_(contact_ids))))
    names = tags_by_contact(session, [c.id for c in found])  # one query for the page, not one per contact
    contacts = {c.id: contact_view(c, names[c.id]) for c in found}
    items = [
        {
            "id": sender_id,
            "conversation_id": sender_id,
            "contact": contacts.get(_contact_of(sender_id) or 0),
            "last_message": message_view(message),
            "unread": int(unread_count),
            "message_count": count,
        }
        for sender_id, count, unread_count, message in rows
    ]
    return items, int(total)


def unread_count(session: Session, account_id: int, conversation_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.account_id == account_id,
                Message.sender_id == conversation_id,
                Message.direction == states.INBOUND,
                Message.read_at.is_(None),
            )
        )
        or 0
    )


def mark_read(session: Session, account_id: int, conversation_id: str) -> int:
    """Mark the thread's inbound messages read; returns how many were unread."""
    result = session.execute(
        update(Message)
        .where(
            Message.account_id == account_id,
            Message.sender_id == conversation_id,
            Message.direction == states.INBOUND,
            Message.read_at.is_(None),
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def last_subject(session: Session, account_id: int, contact_id: int) -> str | None:
    """The subject of the latest email with the contact (a reply's `Re:`)."""
    return session.scalar(
        select(Message.subject)
        .where(
            Message.account_id == account_id,
            Message.contact_id == contact_id,
            Message.channel.in_(EMAIL_CHANNELS),
            Message.subject.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


def last_inbound_mail_id(session: Session, account_id: int, contact_id: int) -> str | None:
    """The Message-ID of the contact's latest email to us, if it had one."""
    value = session.scalar(
        select(Message.provider_message_id)
        .where(
            Message.account_id == account_id,
            Message.contact_id == contact_id,
            Message.direction == states.INBOUND,
            Message.channel.in_(EMAIL_CHANNELS),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    return value if value and value.startswith("<") and value.endswith(">") and "\n" not in value else None


def _contact_of(conversation_id: str) -> int | None:
    prefix, _, rest = conversation_id.partition("-")
    if prefix == "contact" and rest.isascii() and rest.isdigit() and len(rest) < 19:
        return int(rest)
    return None
