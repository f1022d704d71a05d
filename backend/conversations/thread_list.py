"""The inbox's list of threads, filtered, and a thread's done state.

`GET /api/conversations` lists the threads with one-to-one messages (sent or received), the most recently active
first, each with its contact, last message, a `preview` of it cut by grapheme clusters, `unread`, `done` and
`needs_reply`. Filters (each optional, combined with AND):
- `view`: `unread` (a received message not read), `needs_reply` (the last message is theirs, not an automatic
  reply, and the thread is open), `open` (not done), `done`;
- `channel`: `sms`, `email`, `whatsapp`: a one-to-one message on that channel family;
- `tag`: the contact carries the tag (name compared case- and accent-folded).

Done: marking a thread done records its newest message id (`ConversationState.done_through`); it stays done while
no received message (other than an automatic reply) is newer, so the contact writing again reopens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, false, func, not_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.contacts.service import contact_view
from backend.contacts.tags import tags_by_contact
from backend.conversations.preview import preview
from backend.conversations.threads import thread_condition
from backend.store import states
from backend.store.models import Contact, ContactTag, ConversationState, Message, Tag, utcnow
from backend.store.search_key import fold
from backend.views import message_view

VIEWS = ("unread", "needs_reply", "open", "done")
CHANNEL_FAMILIES = {"sms": ("sms",), "email": ("smtp", "gmail"), "whatsapp": ("whatsapp",)}


@dataclass(frozen=True)
class ThreadFilter:
    view: str | None = None
    channel: str | None = None
    tag: str | None = None


def _not_auto() -> Any:
    return func.coalesce(Message.meta["auto"].as_boolean(), false()) == false()


@dataclass(frozen=True)
class _Threads:
    """The threads of one account as one FROM clause (each thread's last message joined) and its columns."""

    joined: Any
    thread: Any
    count: Any
    last_id: Any
    unread: Any
    done: Any
    needs_reply: Any


def _threads(account_id: int) -> _Threads:
    mine = (Message.account_id == account_id, Message.sender_type == states.CONVERSATION)
    last = (
        select(Message.sender_id, func.max(Message.id).label("last_id"), func.count().label("count"))
        .where(*mine)
        .group_by(Message.sender_id)
        .subquery()
    )
    received = (Message.account_id == account_id, Message.direction == states.INBOUND)
    unread = (
        select(Message.sender_id, func.count().label("unread"))
        .where(*received, Message.read_at.is_(None))
        .group_by(Message.sender_id)
        .subquery()
    )
    last_in = (
        select(Message.sender_id, func.max(Message.id).label("last_in"))
        .where(*received, _not_auto())
        .group_by(Message.sender_id)
        .subquery()
    )
    state = (
        select(ConversationState.conversation_id, ConversationState.done_through)
        .where(ConversationState.account_id == account_id)
        .subquery()
    )
    joined = (
        last.join(Message, Message.id == last.c.last_id)
        .outerjoin(unread, unread.c.sender_id == last.c.sender_id)
        .outerjoin(last_in, last_in.c.sender_id == last.c.sender_id)
        .outerjoin(state, state.c.conversation_id == last.c.sender_id)
    )
    done = and_(state.c.done_through.is_not(None), func.coalesce(last_in.c.last_in, 0) <= state.c.done_through)
    needs_reply = and_(last_in.c.last_in.is_not(None), last_in.c.last_in == last.c.last_id, not_(done))
    unread_n = func.coalesce(unread.c.unread, 0)
    return _Threads(joined, last.c.sender_id, last.c.count, last.c.last_id, unread_n, done, needs_reply)


def conversation_list(
    session: Session, account_id: int, limit: int, offset: int, only: ThreadFilter | None = None
) -> tuple[list[dict[str, Any]], int, dict[str, int]]:
    """(items, total, counts): the page of threads `only` selects, how many it selects, and how many threads of
    each view (`all`, `unread`, `needs_reply`, `open`, `done`) the channel and tag filters leave."""
    only = only or ThreadFilter()
    t = _threads(account_id)
    narrowed = _narrowing(account_id, only, t.thread)
    views = {"unread": t.unread > 0, "needs_reply": t.needs_reply, "open": not_(t.done), "done": t.done}
    chosen = [views[only.view]] if only.view else []
    base = (
        select(t.thread, t.count, t.unread, t.done, t.needs_reply, Message)
        .select_from(t.joined)
        .where(*narrowed, *chosen)
    )
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(base.order_by(t.last_id.desc()).limit(limit).offset(offset)).all()
    sums = session.execute(
        select(func.count(), *[func.sum(case((condition, 1), else_=0)) for condition in views.values()])
        .select_from(t.joined)
        .where(*narrowed)
    ).one()
    counts = {"all": int(sums[0] or 0), **{name: int(n or 0) for name, n in zip(views, sums[1:], strict=True)}}
    contact_ids = {states.contact_of_thread(row[0]) for row in rows} - {None}
    found = list(session.scalars(select(Contact).where(Contact.account_id == account_id, Contact.id.in_(contact_ids))))
    names = tags_by_contact(session, [c.id for c in found])  # one query for the page, not one per contact
    contacts = {c.id: contact_view(c, names[c.id]) for c in found}
    items = [
        {
            "id": sender_id,
            "conversation_id": sender_id,
            "contact": contacts.get(states.contact_of_thread(sender_id) or 0),
            "last_message": message_view(message),
            "preview": preview(message.body),
            "unread": int(unread_count),
            "done": bool(is_done),
            "needs_reply": bool(waiting),
            "message_count": count,
        }
        for sender_id, count, unread_count, is_done, waiting, message in rows
    ]
    return items, int(total), counts


def _narrowing(account_id: int, only: ThreadFilter, thread: Any) -> list[Any]:
    """The channel and tag filters."""
    conditions: list[Any] = []
    one_to_one = select(Message.sender_id).where(
        Message.account_id == account_id, Message.sender_type == states.CONVERSATION
    )
    if only.channel is not None:
        conditions.append(thread.in_(one_to_one.where(Message.channel.in_(CHANNEL_FAMILIES[only.channel]))))
    if only.tag is not None:
        tagged = (
            select(ContactTag.contact_id)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(Tag.account_id == account_id, Tag.name_key == fold(only.tag)[:100])
        )
        conditions.append(thread.in_(one_to_one.where(Message.contact_id.in_(tagged))))
    return conditions


def is_done(session: Session, account_id: int, conversation_id: str) -> bool:
    through = session.scalar(
        select(ConversationState.done_through).where(
            ConversationState.account_id == account_id, ConversationState.conversation_id == conversation_id
        )
    )
    if through is None:
        return False
    newer = session.scalar(
        select(func.max(Message.id)).where(
            Message.account_id == account_id,
            Message.sender_id == conversation_id,
            Message.direction == states.INBOUND,
            _not_auto(),
        )
    )
    return (newer or 0) <= through


def mark_done(session: Session, account_id: int, conversation_id: str, contact_id: int | None) -> bool:
    """Mark the thread done through its newest message (a contact's thread: campaign messages too); False when
    it has no message to mark."""
    newest = session.scalar(
        select(func.max(Message.id)).where(thread_condition(account_id, conversation_id, contact_id))
    )
    if newest is None:
        return False
    values = {"account_id": account_id, "conversation_id": conversation_id, "done_through": newest, "done_at": utcnow()}
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(ConversationState)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["account_id", "conversation_id"],
            set_={"done_through": newest, "done_at": values["done_at"]},
        )
    )
    return True


def reopen(session: Session, account_id: int, conversation_id: str) -> None:
    session.execute(
        delete(ConversationState).where(
            ConversationState.account_id == account_id, ConversationState.conversation_id == conversation_id
        )
    )
