"""Tags: one account's labels on contacts, unique by their folded name ("VIP", "vip" and "Vîp" are one tag).

Contract: every function takes the caller's account and runs in the caller's transaction. `ensure` finds or
creates tags by name (what contacts, the import and bulk tagging use); `create` refuses a name that exists (409);
`bulk_tag` adds and removes tags on every contact a condition matches, in set-based statements, and says how
many matched and how many changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, delete, func, insert, literal, or_, select
from sqlalchemy.orm import Session

from backend.errors import ApiError, bad_request, not_found
from backend.store.models import Campaign, Contact, ContactTag, Tag, utcnow
from backend.store.search_key import fold
from backend.views import iso

MAX_NAME = 100
MAX_TAGS = 1000
COLOR = re.compile(r"^(#[0-9A-Fa-f]{3}|#[0-9A-Fa-f]{6}|[a-z]{1,20})$")
SEPARATORS = re.compile(r"[,;]")
CONTACTS = cast(Table, Contact.__table__)
LINKS = cast(Table, ContactTag.__table__)


def tag_view(tag: Tag, contacts: int | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {"id": tag.id, "name": tag.name, "color": tag.color, "created_at": iso(tag.created_at)}
    if contacts is not None:
        view["contacts"] = contacts
    return view


def check_name(raw: Any, field: str = "name") -> str:
    """A tag name: text of 1 to 100 characters without `,` or `;` (an import splits names on them)."""
    name = " ".join(raw.split()) if isinstance(raw, str) else ""
    if not name or len(name) > MAX_NAME or SEPARATORS.search(name) or not fold(name) or "\x00" in name:
        raise bad_request(
            "A tag name is text of 1 to 100 characters, without , or ;.",
            [{"field": field, "reason": "not a tag name"}],
        )
    return name


def check_color(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not COLOR.match(raw):
        raise bad_request("A colour is #rgb, #rrggbb or a colour name.", [{"field": "color", "reason": "not a colour"}])
    return raw


def check_names(raw: Any, field: str = "tags") -> list[str]:
    """A list of tag names (a request's `tags`, `add_tags`, `remove_tags`)."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_TAGS:
        raise bad_request(
            f"`{field}` must be a list of at most {MAX_TAGS} tag names.", [{"field": field, "reason": "not a list"}]
        )
    return list(dict.fromkeys(check_name(n, field) for n in raw))


def split_names(cell: str) -> list[str]:
    """Tag names of an import cell: split on , or ; with blanks dropped."""
    return [" ".join(part.split()) for part in SEPARATORS.split(cell) if part.strip()][:MAX_TAGS]


def listing(session: Session, account_id: int) -> list[dict[str, Any]]:
    counts = dict(
        session.execute(
            select(ContactTag.tag_id, func.count())
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(Tag.account_id == account_id)
            .group_by(ContactTag.tag_id)
        ).all()
    )
    tags = session.scalars(select(Tag).where(Tag.account_id == account_id).order_by(Tag.name_key))
    return [tag_view(t, int(counts.get(t.id, 0))) for t in tags]


def load(session: Session, account_id: int, tag_id: int) -> Tag:
    tag = session.get(Tag, tag_id)
    if tag is None or tag.account_id != account_id:
        raise not_found("This tag")
    return tag


def remove(session: Session, account_id: int, tag_id: int) -> None:
    """Delete the tag; 409 naming the sequences (not cancelled) that its being added starts: deleted, it would
    silently stop enrolling anyone (as a segment a campaign uses is refused: backend.contacts.segments.delete)."""
    tag = load(session, account_id, tag_id)
    rows = session.execute(
        select(Campaign.name, Campaign.sequence).where(
            Campaign.account_id == account_id, Campaign.kind == "sequence", Campaign.status != "cancelled"
        )
    ).all()
    users = [name for name, spec in rows if ((spec or {}).get("trigger") or {}).get("tag_id") == tag.id]
    if users:
        raise ApiError(
            409,
            "tag_in_use",
            f"Adding this tag starts the sequence{'s' if len(users) > 1 else ''} {', '.join(users)}: change "
            "their trigger or cancel them before deleting it.",
        )
    session.delete(tag)


def find(session: Session, account_id: int, name: str) -> Tag | None:
    return session.scalar(select(Tag).where(Tag.account_id == account_id, Tag.name_key == fold(name)[:MAX_NAME]))


def create(session: Session, account_id: int, name: str, color: str | None) -> Tag:
    """A new tag; 409 when one of that (folded) name exists."""
    if find(session, account_id, name) is not None:
        raise ApiError(409, "conflict", f"A tag named {name} already exists.")
    tag = Tag(account_id=account_id, name=name, name_key=fold(name)[:MAX_NAME], color=color, created_at=utcnow())
    session.add(tag)
    session.flush()
    return tag


def change(session: Session, tag: Tag, body: dict[str, Any]) -> None:
    """Rename and / or recolour; 409 when the new name is another tag's."""
    if "name" in body:
        name = check_name(body["name"])
        other = find(session, tag.account_id, name)
        if other is not None and other.id != tag.id:
            raise ApiError(409, "conflict", f"A tag named {name} already exists.")
        tag.name, tag.name_key = name, fold(name)[:MAX_NAME]
    if "color" in body:
        tag.color = check_color(body["color"])
    session.flush()


def ensure(session: Session, account_id: int, names: Iterable[str]) -> list[Tag]:
    """The account's tags of these names, unknown ones created (a name given twice, folded alike, is one tag)."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(fold(name)[:MAX_NAME], name)
    if not wanted:
        return []
    found = {
        t.name_key: t
        for t in session.scalars(select(Tag).where(Tag.account_id == account_id, Tag.name_key.in_(list(wanted))))
    }
    now = utcnow()
    for key, name in wanted.items():
        if key not in found:
            found[key] = Tag(account_id=account_id, name=name, name_key=key, created_at=now)
            session.add(found[key])
    session.flush()
    return [found[key] for key in wanted]


def set_tags(session: Session, contact: Contact, names: list[str]) -> None:
    """The contact's tags become exactly these (unknown names created)."""
    contact.tags = ensure(session, contact.account_id, names)


def tags_by_contact(session: Session, contact_ids: list[int]) -> dict[int, list[str]]:
    """Tag names of each contact, in name order (one query for a page of contacts)."""
    found: dict[int, list[str]] = {i: [] for i in contact_ids}
    if contact_ids:
        rows = session.execute(
            select(ContactTag.contact_id, Tag.name)
            .join(Tag, Tag.id == ContactTag.tag_id)
            .where(ContactTag.contact_id.in_(contact_ids))
            .order_by(Tag.name_key)
        )
        for contact_id, name in rows:
            found[contact_id].append(name)
    return found


def bulk_tag(
    session: Session, account_id: int, matched: ColumnElement[bool], add: list[str], remove: list[str]
) -> dict[str, int]:
    """Add `add` and remove `remove` on every contact `matched` selects (a condition holding the account);
    returns {"matched", "changed"}: how many contacts the condition selects and how many gained or lost a tag."""
    added = [t.id for t in ensure(session, account_id, add)]
    removed = [
        t.id
        for t in session.scalars(
            select(Tag).where(Tag.account_id == account_id, Tag.name_key.in_([fold(n) for n in remove]))
        )
    ]
    removed = [i for i in removed if i not in added]
    count = session.scalar(select(func.count()).select_from(CONTACTS).where(matched)) or 0
    differs = []
    for tag_id in added:
        differs.append(CONTACTS.c.id.not_in(select(LINKS.c.contact_id).where(LINKS.c.tag_id == tag_id)))
    if removed:
        differs.append(CONTACTS.c.id.in_(select(LINKS.c.contact_id).where(LINKS.c.tag_id.in_(removed))))
    changed = 0
    if differs:
        changed = session.scalar(select(func.count()).select_from(CONTACTS).where(matched, or_(*differs))) or 0
    ids = select(CONTACTS.c.id).where(matched)
    for tag_id in added:
        missing = ids.where(CONTACTS.c.id.not_in(select(LINKS.c.contact_id).where(LINKS.c.tag_id == tag_id)))
        session.execute(
            insert(LINKS).from_select(
                ["tag_id", "contact_id"], missing.with_only_columns(literal(tag_id), CONTACTS.c.id)
            )
        )
    if removed:
        session.execute(delete(LINKS).where(LINKS.c.tag_id.in_(removed), LINKS.c.contact_id.in_(ids)))
    return {"matched": int(count), "changed": int(changed)}
