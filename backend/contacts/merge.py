"""Writing checked contacts into the store, merging with what is there (one chunk at a time, bulk statements).

Contract: `write_chunk(session, account_id, records, result, now)` runs inside the caller's write transaction.
Rows of the chunk that share a phone or an email become one record (later non-empty values win); each record
then updates the account's contact with that phone or email (a non-empty value replaces the stored one, an
empty one never does, custom fields are merged, opted-out contacts stay opted out) or becomes a new contact.
A record whose phone and email belong to two different contacts is rejected into `result`. Statements per
chunk: two indexed look-ups (phones, emails), one INSERT executemany and one UPDATE-by-id executemany, all on
the Core table (no ORM objects).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias, cast

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Row,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    update,
)
from sqlalchemy.orm import Session

from backend.contacts.import_diff import LISTED, column_changes, values_of
from backend.contacts.search_index import replace_terms
from backend.store.derived import derived
from backend.store.models import Contact
from backend.store.search_key import search_key

CONTACTS = cast(Table, Contact.__table__)
_INSERT = insert(CONTACTS)
_UPDATE = (
    update(CONTACTS)
    .where(CONTACTS.c.id == bindparam("_id"))
    .values(
        name=bindparam("_name"),
        phone=bindparam("_phone"),
        email=bindparam("_email"),
        fields=bindparam("_fields", type_=CONTACTS.c.fields.type),
        search_key=bindparam("_key"),
        name_key=bindparam("_name_key"),
        country=bindparam("_country"),
        fields_key=bindparam("_fields_key", type_=CONTACTS.c.fields_key.type),
        updated_at=bindparam("_now", type_=CONTACTS.c.updated_at.type),
    )
)


@dataclass(slots=True)
class Record:
    """One checked row: phone in E.164 and email lower-case (at least one of them), name, custom fields."""

    row: int
    phone: str | None
    email: str | None
    name: str
    fields: dict[str, str]
    #: an IANA zone name from the file's time zone column (checked), or None: the stored one is kept.
    timezone: str | None = None
    #: tag names of the row (a column mapped to `tags`)
    tags: list[str] = field(default_factory=list)


@dataclass
class Result:
    imported: int = 0
    #: contacts matched by phone or email whose values changed (`changes` lists them); `unchanged`: nothing did.
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: what was dropped from, or is doubtful in, rows that were imported (a bad phone beside a good email).
    warnings: list[dict[str, Any]] = field(default_factory=list)
    #: rows that repeat an earlier row's phone or email: {"row", "same_as", "key"}; merged into that row.
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    duplicate_rows: int = 0
    #: per changed contact: {"row", "contact_id", "contact", "columns": [{"field", "old", "new"}]} (the first LISTED).
    changes: list[dict[str, Any]] = field(default_factory=list)
    #: what the chunk just written created and changed (ids; {id: its row as found}), drained by the undo journal.
    created_ids: list[int] = field(default_factory=list)
    befores: dict[int, Any] = field(default_factory=dict)
    changed_ids: set[int] = field(default_factory=set)

    def reject(self, row: int, column: str | None, reason: str) -> None:
        self.skipped += 1
        self.errors.append({"row": row, "column": column, "reason": reason})

    def note_change(self, row: int, contact_id: int, old: dict[str, Any], new: dict[str, Any]) -> None:
        columns = column_changes(old, new)
        if not columns:
            self.unchanged += 1
            return
        self.updated += 1
        self.changed_ids.add(contact_id)
        if len(self.changes) < LISTED:
            who = new["name"] or new["phone"] or new["email"] or ""
            self.changes.append({"row": row, "contact_id": contact_id, "contact": who, "columns": columns})

    def as_dict(self) -> dict[str, Any]:
        self.errors.sort(key=lambda e: e["row"])
        self.warnings.sort(key=lambda e: e["row"])
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "errors": self.errors,
            "warnings": self.warnings,
            "duplicates": self.duplicates,
            "duplicate_rows": self.duplicate_rows,
            "changes": self.changes,
        }


def write_chunk(
    session: Session, account_id: int, records: list[Record], result: Result, now: datetime
) -> list[Record]:
    """Write the chunk; returns the records written (merged, rejected ones left out)."""
    merged = merge_within(records, result)
    if not merged:
        return []
    written: list[Record] = []
    by_phone, by_email = _existing(session, account_id, merged)
    inserts: list[dict[str, Any]] = []
    updates: dict[int, dict[str, Any]] = {}
    for record in merged:
        a = by_phone.get(record.phone) if record.phone else None
        b = by_email.get(record.email) if record.email else None
        if a is not None and b is not None and a.id != b.id:
            result.reject(record.row, None, f"{record.phone} and {record.email} belong to two different contacts")
            continue
        written.append(record)
        existing = a or b
        if existing is None:
            inserts.append(
                {
                    "account_id": account_id,
                    "name": record.name,
                    "phone": record.phone,
                    "email": record.email,
                    "fields": record.fields,
                    "search_key": search_key(record.name, record.email, record.phone),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            result.imported += 1
            continue
        _merge_into(updates, existing, record, result, now)
    for change in updates.values():
        change["_key"] = search_key(change["_name"], change["_email"], change["_phone"])
    if inserts:
        _insert(session, inserts)
    if updates:
        _update(session, list(updates.values()))
    result.created_ids.extend(_index(session, account_id, inserts, updates))
    _set_timezones(session, account_id, merged)
    return written


def _merge_into(
    updates: dict[int, dict[str, Any]], existing: Any, record: Record, result: Result, now: datetime
) -> None:
    """The record's non-empty values over the contact found (or over what earlier records of the chunk made of
    it); the diff notes what changes, and the contact's row as found is kept for the undo."""
    change = updates.get(existing.id)
    if change is None:
        change = {
            "_id": existing.id,
            "_name": existing.name,
            "_phone": existing.phone,
            "_email": existing.email,
            "_fields": dict(existing.fields or {}),
            "_tz": existing.timezone,
            "_now": now,
        }
        result.befores[existing.id] = existing
    old = values_of(change)
    change["_name"] = record.name or change["_name"]
    change["_phone"] = record.phone or change["_phone"]
    change["_email"] = record.email or change["_email"]
    change["_fields"].update(record.fields)
    change["_tz"] = record.timezone or change["_tz"]
    updates[existing.id] = change
    result.note_change(record.row, existing.id, old, values_of(change))


def _set_timezones(session: Session, account_id: int, records: list[Record]) -> None:
    """The time zones the file gives, written onto the contacts just inserted or updated (by phone, else email)."""
    by_phone = [{"_a": account_id, "_k": r.phone, "_tz": r.timezone} for r in records if r.timezone and r.phone]
    by_email = [
        {"_a": account_id, "_k": r.email, "_tz": r.timezone} for r in records if r.timezone and not r.phone and r.email
    ]
    for key, rows in ((CONTACTS.c.phone, by_phone), (CONTACTS.c.email, by_email)):
        if rows:
            statement = (
                update(CONTACTS)
                .where(CONTACTS.c.account_id == bindparam("_a"), key == bindparam("_k"))
                .values(timezone=bindparam("_tz"))
            )
            session.connection().execute(statement, rows)


def _index(
    session: Session, account_id: int, inserts: list[dict[str, Any]], updates: dict[int, dict[str, Any]]
) -> list[int]:
    """The search terms of the chunk's contacts, from the values just written (no read-back of names). The new
    rows' ids come back through the same two indexed look-ups (SQLite's executemany cannot RETURN them), and
    are returned."""
    created: list[int] = []
    contacts = [(i, c["_name"], c["_email"], c["_phone"]) for i, c in updates.items()]
    if inserts:
        records = [Record(0, r["phone"], r["email"], r["name"], {}) for r in inserts]
        by_phone, by_email = _existing(
            session, account_id, records, (CONTACTS.c.id, CONTACTS.c.phone, CONTACTS.c.email)
        )
        for r in inserts:
            found = (by_phone.get(r["phone"]) if r["phone"] else None) or by_email.get(r["email"])
            if found is not None:
                created.append(found.id)
                contacts.append((found.id, r["name"], r["email"], r["phone"]))
    if contacts:
        replace_terms(session.connection(), account_id, contacts, list(updates))
    return created


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT executemany. SQLite: through the driver, with `now` and the JSON converted by the columns' own
    types (so stored exactly as SQLAlchemy stores them): per-row parameter processing cost more than SQLite's
    insert itself (bench/import.py)."""
    connection = session.connection()
    dialect = connection.dialect
    # What filters read (derived) is computed row by row here, not held for the whole chunk.
    if dialect.name != "sqlite":
        session.execute(_INSERT, [{**r, **derived(r["name"], r["phone"], r["fields"])} for r in rows])
        return
    stamp = _processor(CONTACTS.c.created_at, dialect)(rows[0]["created_at"])
    to_json = _processor(CONTACTS.c.fields, dialect)
    connection.exec_driver_sql(_SQLITE_INSERT, [_sqlite_row(r, to_json, stamp) for r in rows])


def _update(session: Session, changes: list[dict[str, Any]]) -> None:
    """UPDATE-by-id executemany, with what filters read (derived) computed row by row. SQLite: through the
    driver, as `_insert` (the ORM's per-row processing of two JSON columns cost more memory than the rows)."""
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        extra = (derived(c["_name"], c["_phone"], c["_fields"]) for c in changes)
        session.execute(
            _UPDATE, [{**c, **{f"_{k}": v for k, v in more.items()}} for c, more in zip(changes, extra, strict=True)]
        )
        return
    stamp = _processor(CONTACTS.c.updated_at, dialect)(changes[0]["_now"])
    to_json = _processor(CONTACTS.c.fields, dialect)
    connection.exec_driver_sql(_SQLITE_UPDATE, [_sqlite_change(c, to_json, stamp) for c in changes])


def _sqlite_change(c: dict[str, Any], to_json: Any, stamp: Any) -> tuple[Any, ...]:
    more = derived(c["_name"], c["_phone"], c["_fields"])
    return (
        c["_name"],
        c["_phone"],
        c["_email"],
        to_json(c["_fields"]),
        c["_key"],
        more["name_key"],
        more["country"],
        to_json(more["fields_key"]),
        stamp,
        c["_id"],
    )


_SQLITE_UPDATE = (
    "UPDATE contacts SET name = ?, phone = ?, email = ?, fields = ?, search_key = ?, name_key = ?, country = ?, "
    "fields_key = ?, updated_at = ? WHERE id = ?"
)


def _sqlite_row(r: dict[str, Any], to_json: Any, stamp: Any) -> tuple[Any, ...]:
    more = derived(r["name"], r["phone"], r["fields"])
    return (
        r["account_id"],
        r["name"],
        r["phone"],
        r["email"],
        to_json(r["fields"]),
        r["search_key"],
        more["name_key"],
        more["country"],
        to_json(more["fields_key"]),
        stamp,
        stamp,
    )


_SQLITE_INSERT = (
    "INSERT INTO contacts (account_id, name, phone, email, fields, search_key, name_key, country, fields_key, "
    "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _processor(column: Any, dialect: Any) -> Any:
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process or (lambda value: value)


#: a row of `_FOUND` (SQLAlchemy 2.1 types a row by its columns).
FoundRow: TypeAlias = "Row[*tuple[Any, ...]]"


def _existing(
    session: Session, account_id: int, records: list[Record], found: tuple[Any, ...] | None = None
) -> tuple[dict[str, FoundRow], dict[str, FoundRow]]:
    """The account's contacts holding any of the records' phones or emails, by phone and by email."""
    phones = [r.phone for r in records if r.phone]
    emails = [r.email for r in records if r.email]
    by_phone: dict[str, FoundRow] = {}
    by_email: dict[str, FoundRow] = {}
    # Two look-ups, each on its unique index (one query with OR made SQLite scan the account's contacts), each
    # with the keys as ONE parameter: thousands of IN (...) parameters cost more to bind than the look-up.
    sqlite = session.get_bind().dialect.name == "sqlite"
    for column, keys in ((CONTACTS.c.phone, phones), (CONTACTS.c.email, emails)):
        if not keys:
            continue
        wanted: ColumnElement[bool]
        if sqlite:
            wanted = column.in_(select(column_of_json_each()).select_from(json_each(json.dumps(keys))))
        else:
            wanted = column == any_(bindparam("keys", keys, type_=ARRAY(String)))
        for row in session.execute(select(*(found or _FOUND)).where(CONTACTS.c.account_id == account_id, wanted)):
            if row.phone:
                by_phone[row.phone] = row
            if row.email:
                by_email[row.email] = row
    return by_phone, by_email


_FOUND = (CONTACTS.c.id, CONTACTS.c.phone, CONTACTS.c.email, CONTACTS.c.name, CONTACTS.c.fields, CONTACTS.c.timezone)


def json_each(document: str) -> Any:
    return func.json_each(document).table_valued("value")


def column_of_json_each() -> Any:
    return literal_column("value")


def merge_within(records: list[Record], result: Result) -> list[Record]:
    """Rows of one chunk that name the same phone or email become one record (later non-empty values win)."""
    by_phone: dict[str, Record] = {}
    by_email: dict[str, Record] = {}
    out: list[Record] = []
    for record in records:
        a = by_phone.get(record.phone) if record.phone else None
        b = by_email.get(record.email) if record.email else None
        if a is not None and b is not None and a is not b:
            result.reject(record.row, None, f"{record.phone} and {record.email} are on two different earlier rows")
            continue
        target = a or b
        if target is None:
            out.append(record)
            target = record
        else:
            key = record.phone if a is not None else record.email
            result.duplicate_rows += 1
            if len(result.duplicates) < LISTED:
                result.duplicates.append({"row": record.row, "same_as": target.row, "key": key})
            target.name = record.name or target.name
            target.phone = record.phone or target.phone
            target.email = record.email or target.email
            target.fields.update(record.fields)
            target.timezone = record.timezone or target.timezone
            target.tags = [*target.tags, *record.tags]
        if target.phone:
            by_phone[target.phone] = target
        if target.email:
            by_email[target.email] = target
    return out
