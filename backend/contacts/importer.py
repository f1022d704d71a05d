"""Importing contacts from a Table into the store.

Contract: `import_table(db, account_id, table, mapping, default_country)` -> {"imported", "updated", "skipped",
"errors": [{"row", "column", "reason"}]}. Rows are checked (phones to E.164 with the default country, emails
with email-validator, no DNS) in chunks, in worker processes when `parallel` (the checks are the costly part);
the chunks are written in order with bulk statements (INSERT executemany; UPDATE by primary key) inside ONE
write transaction: a file that turns out to be unreadable half-way leaves nothing behind.

Duplicates merge: a row whose phone or email matches an earlier row or an existing contact of the account
updates that contact (empty values never overwrite, custom fields are merged). A row whose phone and email
belong to two different contacts is rejected. A rejected row is reported with its number, column and reason and
counted in `skipped`; opted-out contacts stay opted out.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from backend.contacts.normalize import normalise_email, normalise_phone
from backend.contacts.reading import ImportFileError, Table
from backend.store.models import Contact, utcnow

CHUNK = 2000
IN_FLIGHT = 4
WORKERS = 2


@dataclass
class Record:
    row: int
    phone: str | None
    email: str | None
    name: str
    fields: dict[str, str]


@dataclass
class Result:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: int, column: str | None, reason: str) -> None:
        self.skipped += 1
        self.errors.append({"row": row, "column": column, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {"imported": self.imported, "updated": self.updated, "skipped": self.skipped, "errors": self.errors}


Plan = list[tuple[int, str, str]]  # (cell index, column name, field)


def plan_of(table: Table, mapping: dict[str, str]) -> Plan:
    plan = [(i, col, mapping[col]) for i, col in enumerate(table.columns) if mapping.get(col, "skip") != "skip"]
    if not any(target in ("phone", "email") for _i, _c, target in plan):
        raise ImportFileError(
            "No column holds phone numbers or email addresses, so this file cannot be imported as contacts. "
            "Map a column to phone or email."
        )
    return plan


def check_rows(rows: list[tuple[int, list[str]]], plan: Plan, country: str | None) -> tuple[list[Record], list]:
    """Turn raw rows into Records; returns (records, [(row, column, reason)]). Runs in worker processes."""
    records: list[Record] = []
    problems: list[tuple[int, str | None, str]] = []
    for number, cells in rows:
        values = {"phone": "", "email": "", "name": "", "first_name": "", "last_name": ""}
        columns: dict[str, str] = {}
        custom: dict[str, str] = {}
        for index, column, target in plan:
            cell = cells[index].strip() if index < len(cells) else ""
            if target.startswith("fields."):
                if cell:
                    custom[target[7:]] = cell
            else:
                values[target], columns[target] = cell, column
        phone, phone_problem = normalise_phone(values["phone"], country)
        email, email_problem = normalise_email(values["email"])
        if phone_problem or email_problem:
            if phone_problem:
                problems.append((number, columns.get("phone"), phone_problem))
            if email_problem:
                problems.append((number, columns.get("email"), email_problem))
            continue
        if not phone and not email:
            problems.append((number, None, "no phone number or email address"))
            continue
        for part in ("first_name", "last_name"):
            if values[part]:
                custom[part] = values[part]
        name = values["name"] or f"{values['first_name']} {values['last_name']}".strip()
        records.append(Record(number, phone, email, name[:200], custom))
    return records, problems


def import_table(
    db: Any, account_id: int, table: Table, mapping: dict[str, str], country: str | None, *, parallel: bool = False
) -> dict[str, Any]:
    plan = plan_of(table, mapping)
    result = Result()
    with db.write() as session:
        for records, problems in _checked_chunks(table, plan, country, parallel):
            rejected = {p[0] for p in problems}
            result.skipped += len(rejected)
            result.errors.extend({"row": r, "column": c, "reason": why} for r, c, why in problems)
            _upsert(session, account_id, records, result)
    result.errors.sort(key=lambda e: e["row"])
    return result.as_dict()


def _chunks(table: Table) -> Iterator[list[tuple[int, list[str]]]]:
    chunk: list[tuple[int, list[str]]] = []
    for item in table.rows():
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked_chunks(
    table: Table, plan: Plan, country: str | None, parallel: bool
) -> Iterator[tuple[list[Record], list]]:
    if not parallel:
        for chunk in _chunks(table):
            yield check_rows(chunk, plan, country)
        return
    # Spawned (not forked) workers: this process runs threads whose locks a fork would copy mid-use.
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[Future] = deque()
        for chunk in _chunks(table):
            pending.append(pool.submit(check_rows, chunk, plan, country))
            if len(pending) >= IN_FLIGHT:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _upsert(session: Session, account_id: int, records: list[Record], result: Result) -> None:
    merged = _merge_within(records, result)
    phones = [r.phone for r in merged if r.phone]
    emails = [r.email for r in merged if r.email]
    if not merged:
        return
    found = session.execute(
        select(Contact.id, Contact.phone, Contact.email, Contact.name, Contact.fields).where(
            Contact.account_id == account_id, or_(Contact.phone.in_(phones), Contact.email.in_(emails))
        )
    ).all()
    by_phone = {row.phone: row for row in found if row.phone}
    by_email = {row.email: row for row in found if row.email}
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: dict[int, dict[str, Any]] = {}
    for record in merged:
        a, b = by_phone.get(record.phone), by_email.get(record.email)
        if a is not None and b is not None and a.id != b.id:
            result.reject(record.row, None, f"{record.phone} and {record.email} belong to two different contacts")
            continue
        existing = a or b
        if existing is None:
            inserts.append(
                {
                    "account_id": account_id,
                    "name": record.name,
                    "phone": record.phone,
                    "email": record.email,
                    "fields": record.fields,
                    "opted_out": False,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            result.imported += 1
            continue
        base = updates.get(existing.id) or {
            "id": existing.id,
            "name": existing.name,
            "phone": existing.phone,
            "email": existing.email,
            "fields": dict(existing.fields or {}),
            "updated_at": now,
        }
        base["name"] = record.name or base["name"]
        base["phone"] = base["phone"] or record.phone
        base["email"] = base["email"] or record.email
        base["fields"] = {**base["fields"], **record.fields}
        updates[existing.id] = base
        result.updated += 1
    if inserts:
        session.execute(insert(Contact), inserts)
    if updates:
        session.execute(update(Contact), list(updates.values()))


def _merge_within(records: list[Record], result: Result) -> list[Record]:
    """Rows of one chunk that name the same phone or email become one record (later values win)."""
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
            target.name = record.name or target.name
            target.phone = target.phone or record.phone
            target.email = target.email or record.email
            target.fields.update(record.fields)
            result.updated += 1
        if target.phone:
            by_phone[target.phone] = target
        if target.email:
            by_email[target.email] = target
    return out
