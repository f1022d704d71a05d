"""Undoing an account's latest contacts import within a day.

Contract:
- `begin(session, account_id, filename, now)` -> the new import's id; it drops the account's older imports' undo
  rows (only the latest import can be undone, so what is kept stays bounded by one file).
- `record(session, import_id, result)` (in the import's write transaction, after each chunk and before its tags
  are linked) keeps the contacts the chunk created, and the values and tag ids of those it changed as they were.
- `undo(session, account_id, import_id, now)` -> {"deleted", "restored", "kept": [{"contact_id", "contact",
  "reason"}]}: contacts the import created are deleted and those it changed get their values and tags back,
  except a contact changed since (by hand, an opt-out, another import): it is kept as it is and named.
  Raises ApiError 404 (not this account's), 409 (undone already, not the latest, or older than UNDO_FOR).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.contacts.merge import Result
from backend.errors import ApiError, not_found
from backend.store.models import Contact, ContactImport, ContactImportRow, ContactTag
from backend.views import iso

UNDO_FOR = timedelta(hours=24)
ROWS = cast(Table, ContactImportRow.__table__)
BATCH = 1000
SMALL_BATCH = 100


def begin(session: Session, account_id: int, filename: str, now: datetime) -> int:
    older = select(ContactImport.id).where(ContactImport.account_id == account_id)
    session.execute(delete(ContactImportRow).where(ContactImportRow.import_id.in_(older)))
    entry = ContactImport(account_id=account_id, filename=filename[:255], counts={}, created_at=now)
    session.add(entry)
    session.flush()
    return entry.id


def record(session: Session, import_id: int, result: Result) -> None:
    befores, created, changed = result.befores, result.created_ids, result.changed_ids
    result.befores, result.created_ids, result.changed_ids = {}, [], set()
    befores = {i: row for i, row in befores.items() if i in changed}  # an unchanged contact has nothing to undo
    ids = list(befores)
    tag_ids: dict[int, list[int]] = {}
    for start in range(0, len(ids), BATCH):
        part = ids[start : start + BATCH]
        links = session.execute(select(ContactTag.contact_id, ContactTag.tag_id).where(ContactTag.contact_id.in_(part)))
        for contact_id, tag_id in links:
            tag_ids.setdefault(contact_id, []).append(tag_id)
    # A contact the same import met in an earlier chunk keeps what it held before the import (ON CONFLICT DO
    # NOTHING); rows go in small batches, so the chunk's values are not held twice (tests measure the peak).
    insert = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)(ROWS)
    statement = insert.on_conflict_do_nothing()
    for start in range(0, len(created), BATCH):
        part = created[start : start + BATCH]
        session.execute(statement, [{"import_id": import_id, "contact_id": i, "before": None} for i in part])
    while befores:
        batch = [befores.popitem() for _ in range(min(SMALL_BATCH, len(befores)))]
        values = [{"import_id": import_id, "contact_id": i, "before": _before(r, tag_ids)} for i, r in batch]
        session.execute(statement, values)


def _before(row: Any, tag_ids: dict[int, list[int]]) -> dict[str, Any]:
    """A contact's row as the import found it (merge's look-up), with its tag ids: what the undo puts back."""
    return {
        "name": row.name,
        "phone": row.phone,
        "email": row.email,
        "fields": row.fields or {},
        "timezone": row.timezone,
        "tag_ids": tag_ids.get(row.id, []),
    }


def finish(session: Session, import_id: int, counts: dict[str, Any]) -> None:
    entry = session.get(ContactImport, import_id)
    if entry is not None:
        entry.counts = counts


def latest_view(session: Session, account_id: int, now: datetime) -> dict[str, Any] | None:
    entry = session.scalars(
        select(ContactImport).where(ContactImport.account_id == account_id).order_by(ContactImport.id.desc()).limit(1)
    ).first()
    return None if entry is None else view(entry, now)


def view(entry: ContactImport, now: datetime) -> dict[str, Any]:
    until = entry.created_at + UNDO_FOR
    return {
        "id": entry.id,
        "filename": entry.filename,
        "counts": entry.counts,
        "created_at": iso(entry.created_at),
        "undo_until": iso(until),
        "undone_at": iso(entry.undone_at) if entry.undone_at else None,
        "can_undo": entry.undone_at is None and now < until,
    }


def undo(session: Session, account_id: int, import_id: int, now: datetime) -> dict[str, Any]:
    entry = session.get(ContactImport, import_id)
    if entry is None or entry.account_id != account_id:
        raise not_found("This import")
    _check_undoable(session, entry, now)
    out: dict[str, Any] = {"deleted": 0, "restored": 0, "kept": []}
    rows = session.scalars(select(ContactImportRow).where(ContactImportRow.import_id == import_id)).all()
    contacts = _contacts(session, account_id, [r.contact_id for r in rows])
    stamp = entry.created_at
    for row in rows:
        contact = contacts.get(row.contact_id)
        if contact is None:
            continue
        if abs((contact.updated_at - stamp).total_seconds()) > 0.001:
            out["kept"].append(
                {"contact_id": contact.id, "contact": _who(contact), "reason": "changed since the import"}
            )
            continue
        if row.before is None:
            session.delete(contact)
            out["deleted"] += 1
            continue
        try:
            with session.begin_nested():
                _restore(session, contact, row.before)
            out["restored"] += 1
        except IntegrityError:
            session.expire(contact)
            why = "its old phone number or email address belongs to another contact now"
            out["kept"].append({"contact_id": contact.id, "contact": _who(contact), "reason": why})
    session.execute(delete(ContactImportRow).where(ContactImportRow.import_id == import_id))
    entry.undone_at = now
    return out


def _check_undoable(session: Session, entry: ContactImport, now: datetime) -> None:
    if entry.undone_at is not None:
        raise ApiError(409, "already_undone", "This import was undone already.")
    newest = session.scalar(
        select(ContactImport.id).where(ContactImport.account_id == entry.account_id).order_by(ContactImport.id.desc())
    )
    if newest != entry.id:
        raise ApiError(409, "not_latest", "Only the latest import can be undone; a newer one came after it.")
    if now >= entry.created_at + UNDO_FOR:
        raise ApiError(409, "too_late", "An import can be undone for 24 hours; this one is older.")


def _contacts(session: Session, account_id: int, ids: list[int]) -> dict[int, Contact]:
    found: dict[int, Contact] = {}
    for start in range(0, len(ids), BATCH):
        query = select(Contact).where(Contact.account_id == account_id, Contact.id.in_(ids[start : start + BATCH]))
        found.update({c.id: c for c in session.scalars(query)})
    return found


def _restore(session: Session, contact: Contact, before: dict[str, Any]) -> None:
    contact.name = before.get("name") or ""
    contact.phone = before.get("phone")
    contact.email = before.get("email")
    contact.fields = before.get("fields") or {}
    contact.timezone = before.get("timezone")
    wanted = set(before.get("tag_ids") or [])  # absent: the contact had no tags
    session.execute(
        delete(ContactTag).where(ContactTag.contact_id == contact.id, ContactTag.tag_id.notin_(wanted or {0}))
    )
    session.flush()


def _who(contact: Contact) -> str:
    return contact.name or contact.phone or contact.email or ""
