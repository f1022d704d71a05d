"""A checked filter (backend/audience/filters.py) as one SQL condition on `contacts`, with bound parameters only.

Contract: `where(node, account_id, now)` is a SQLAlchemy boolean expression over the contacts table that holds
`contacts.account_id = :account` and, in every subquery (tags, messages), the same account; user values are only
ever bound parameters, never SQL text. Every leaf is true or false, never NULL (missing text is '', numbers and
dates are tested for NULL first, subqueries never yield NULL), so `not` and `ne` mean what a user expects, and
the same expression gives the same rows on SQLite and PostgreSQL (text is compared in its folded form, written
in Python: backend/store/derived.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, and_, false, func, not_, or_, select, true
from sqlalchemy.orm import aliased

from backend.audience import reach
from backend.audience.filters import CAMPAIGN_FIELD, Group, Leaf, Node, Not
from backend.store import states
from backend.store.models import Contact, ContactTag, Message, Tag

CONTACTS = cast(Table, Contact.__table__)
C = CONTACTS.c


def where(node: Node, account_id: int, now: datetime) -> ColumnElement[bool]:
    """The contacts of `account_id` that `node` matches."""
    return and_(C.account_id == account_id, _compile(node, account_id, now))


def _compile(node: Node, account_id: int, now: datetime) -> ColumnElement[bool]:
    if isinstance(node, Group):
        parts = [_compile(child, account_id, now) for child in node.children]
        if node.mode == "all":
            return and_(true(), *parts)
        return or_(false(), *parts)
    if isinstance(node, Not):
        return not_(_compile(node.child, account_id, now))
    return _LEAF[node.kind](node, account_id, now)


# ---- text ----


def text_of(field: str) -> ColumnElement[str]:
    """The comparable (folded) text of a field; '' where there is none."""
    if field == "name":
        return C.name_key
    if field in ("email", "phone", "country"):
        return func.coalesce(C[field], "")
    if field == "timezone":  # an IANA name as written ("Europe/Paris"); filter values are folded to lower case
        return func.lower(func.coalesce(C.timezone, ""))
    key = field[len("fields.") :]
    return func.coalesce(C.fields_key[("t", key)].as_string(), "")


def _text(leaf: Leaf, _account_id: int, _now: datetime) -> ColumnElement[bool]:
    column, value = text_of(leaf.field), leaf.value
    match leaf.op:
        case "eq":
            return column.__eq__(value)
        case "ne":
            return column.__ne__(value)
        case "contains":
            return column.contains(value, autoescape=True)
        case "not_contains":
            return not_(column.contains(value, autoescape=True))
        case "starts_with":
            return column.startswith(value, autoescape=True)
        case "in":
            return column.in_(value)
        case "not_in":
            return column.not_in(value)
        case "is_set":
            return column != ""
        case _:  # is_not_set
            return column == ""


# ---- numbers (custom fields: only values that are numbers are stored under "n") ----


def _number(leaf: Leaf, _account_id: int, _now: datetime) -> ColumnElement[bool]:
    number = C.fields_key[("n", leaf.field[len("fields.") :])].as_float()
    value = leaf.value
    compared: ColumnElement[bool]
    match leaf.op:
        case "eq":
            compared = number == value
        case "ne":
            compared = number != value
        case "lt":
            compared = number < value
        case "lte":
            compared = number <= value
        case "gt":
            compared = number > value
        case "gte":
            compared = number >= value
        case _:  # between
            compared = and_(number >= value[0], number <= value[1])
    return and_(number.is_not(None), compared)


# ---- dates ----


def _activity(field: str, account_id: int, since: datetime | None) -> Select[Any]:
    """Ids of the account's contacts with a message sent (last_sent_at) or received (last_inbound_at) at or
    after `since` (ever, when None)."""
    inbound = field == "last_inbound_at"
    at = Message.created_at if inbound else Message.sent_at
    query = select(Message.contact_id).where(
        Message.account_id == account_id,
        Message.direction == (states.INBOUND if inbound else states.OUTBOUND),
        Message.contact_id.is_not(None),
        at.is_not(None),
    )
    return query.where(at >= since) if since is not None else query


def _date(leaf: Leaf, account_id: int, now: datetime) -> ColumnElement[bool]:
    op, value = leaf.op, leaf.value
    if op in ("within_last_days", "more_than_days_ago"):
        value = now - timedelta(days=value)
    if leaf.field == "created_at":
        at: datetime = value
        match op:
            case "before" | "more_than_days_ago":
                return Contact.created_at < at
            case "after" | "within_last_days":
                return Contact.created_at >= at
            case "is_set":
                return true()
            case _:
                return false()
    ever = C.id.in_(_activity(leaf.field, account_id, None))
    match op:
        case "after" | "within_last_days":
            return C.id.in_(_activity(leaf.field, account_id, value))
        case "before" | "more_than_days_ago":
            return and_(ever, C.id.not_in(_activity(leaf.field, account_id, value)))
        case "is_set":
            return ever
        case _:
            return not_(ever)


# ---- tags ----


def tag_ids(account_id: int, folded: list[str]) -> Select[Any]:
    return select(Tag.id).where(Tag.account_id == account_id, Tag.name_key.in_(folded))


def _tags(leaf: Leaf, account_id: int, _now: datetime) -> ColumnElement[bool]:
    tagged = select(ContactTag.contact_id).where(ContactTag.tag_id.in_(tag_ids(account_id, leaf.value)))
    if leaf.op == "has_any":
        return C.id.in_(tagged)
    if leaf.op == "has_none":
        return C.id.not_in(tagged)
    # has_all: as many of the named tags as there are names (a name with no tag matches nobody).
    every = tagged.group_by(ContactTag.contact_id).having(func.count() == len(leaf.value))
    return C.id.in_(every)


# ---- true / false ----


def opted_out(family: str) -> ColumnElement[bool]:
    """Opted out of `family` (`any`: of at least one family, or of everything): the bits of `contacts.reach`."""
    return reach.opted_out(family)


def has(column: str) -> ColumnElement[bool]:
    return reach.has(column)


def _campaign(field: str, account_id: int) -> ColumnElement[bool]:
    match = CAMPAIGN_FIELD.match(field)
    assert match is not None
    campaign_id, what = int(match.group(1)), match.group(2)
    ours = and_(
        Message.account_id == account_id,
        Message.campaign_id == campaign_id,
        Message.contact_id.is_not(None),
    )
    if what == "replied":
        # An inbound message from the contact, received after this campaign's message to them was sent.
        reply = aliased(Message)
        replied = (
            select(Message.contact_id)
            .join(reply, reply.contact_id == Message.contact_id)
            .where(
                ours,
                Message.sent_at.is_not(None),
                reply.account_id == account_id,
                reply.direction == states.INBOUND,
                reply.created_at >= Message.sent_at,
            )
        )
        return C.id.in_(replied)
    outcome = {
        "received": Message.status == states.SENT,
        "delivered": Message.delivered.is_(True),
        "failed": or_(Message.status == states.FAILED, Message.delivered.is_(False)),
    }[what]
    return C.id.in_(select(Message.contact_id).where(ours, outcome))


def _bool(leaf: Leaf, account_id: int, _now: datetime) -> ColumnElement[bool]:
    field = leaf.field
    if field.startswith("opted_out."):
        condition = opted_out(field[len("opted_out.") :])
    elif field.startswith("has."):
        condition = has(field[len("has.") :])
    else:
        condition = _campaign(field, account_id)
    return condition if leaf.value else not_(condition)


_LEAF = {"text": _text, "number": _number, "date": _date, "tags": _tags, "bool": _bool}
