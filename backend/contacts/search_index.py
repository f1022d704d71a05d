"""The contact search index: `contacts.search_key` and the `contact_terms` rows, kept in step with every write.

ORM writes (the contact routes, contacts created by inbound messages) are covered by mapper events registered
here; the bulk import writes the key with its rows and their terms with `replace_terms`, in the same
transaction. A search is one range scan of the `(account_id, term)` primary key: the folded query is a prefix of
one of the contact's terms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, event, func, insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session

from backend.store.models import Contact, ContactTerm
from backend.store.search_key import all_terms, query_terms, search_key, upper_bound

TERMS = cast(Table, ContactTerm.__table__)
CONTACTS = cast(Table, Contact.__table__)
BATCH = 500  # small: an import indexes each chunk it writes, and its memory stays flat


def replace_terms(
    connection: Connection,
    account_id: int,
    contacts: Sequence[tuple[int, str, str | None, str | None]],
    old: Sequence[int],
) -> None:
    """Write the terms of `contacts` (id, name, email, phone), first dropping the stored terms of the ids in `old`."""
    for start in range(0, len(old), BATCH):
        connection.execute(delete(TERMS).where(TERMS.c.contact_id.in_(list(old[start : start + BATCH]))))
    for start in range(0, len(contacts), BATCH):
        _insert_terms(connection, account_id, all_terms(contacts[start : start + BATCH]))


def _insert_terms(connection: Connection, account_id: int, pairs: Iterable[tuple[int, str]]) -> None:
    if connection.dialect.name == "sqlite":
        # Through the driver, as the import writes contacts: per-row parameter processing costs more than the insert.
        tuples = [(account_id, term, cid) for cid, term in pairs]
        if tuples:
            connection.exec_driver_sql(_SQLITE_INSERT, tuples)
        return
    rows = [{"account_id": account_id, "contact_id": cid, "term": term} for cid, term in pairs]
    if rows:
        connection.execute(insert(TERMS), rows)


_SQLITE_INSERT = "INSERT INTO contact_terms (account_id, term, contact_id) VALUES (?, ?, ?)"


def matching_ids(session: Session, account_id: int, q: str | None) -> list[int] | None:
    """The ids of the account's contacts matching `q`, in id order; None when `q` holds nothing to match.

    One range scan of the (account_id, term) key; a contact matched through several of its terms (its name and
    its email both start with "ana") is counted once.
    """
    wanted = query_terms(q)
    if not wanted:
        return None
    prefix = wanted[0]
    # No DISTINCT in SQL: with it SQLite may walk the whole contact_id index (in order, to skip duplicates)
    # instead of the key's range; the few duplicates are dropped here. Through the driver: thousands of ids
    # through ORM rows cost more than the index scan itself (bench/contact_search.py).
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    cursor = connection.connection.cursor()
    try:
        cursor.execute(
            f"SELECT contact_id FROM contact_terms WHERE account_id = {mark} AND term >= {mark} AND term < {mark}",
            (account_id, prefix, upper_bound(prefix)),
        )
        ids = {row[0] for row in cursor.fetchall()}
    finally:
        cursor.close()
    return sorted(ids)


def search(session: Session, account_id: int, q: str | None, limit: int, offset: int) -> tuple[list[Contact], int]:
    """The account's contacts matching `q` (all when empty) in id order, and how many match."""
    ids = matching_ids(session, account_id, q)
    query = select(Contact).where(Contact.account_id == account_id).order_by(Contact.id)
    if ids is None:
        total = session.scalar(select(func.count()).select_from(CONTACTS).where(CONTACTS.c.account_id == account_id))
        return list(session.scalars(query.limit(limit).offset(offset))), int(total or 0)
    page = ids[offset : offset + limit]
    # By primary key alone: with `account_id = ?` beside it SQLite may walk the account's index in id order (a
    # million rows) to save sorting 25. The ids come from the account's own terms.
    found = session.scalars(select(Contact).where(Contact.id.in_(page))).all() if page else []
    rows = sorted((c for c in found if c.account_id == account_id), key=lambda c: c.id)
    return rows, len(ids)


# ---- ORM writes ----


def _before_write(_mapper: Mapper[Any], _connection: Connection, contact: Contact) -> None:
    contact.search_key = search_key(contact.name, contact.email, contact.phone)


def _after_insert(_mapper: Mapper[Any], connection: Connection, contact: Contact) -> None:
    _insert_terms(connection, contact.account_id, all_terms([(contact.id, contact.name, contact.email, contact.phone)]))


def _after_update(_mapper: Mapper[Any], connection: Connection, contact: Contact) -> None:
    state = inspect(contact)
    if not any(state.attrs[name].history.has_changes() for name in ("name", "email", "phone")):
        return
    connection.execute(delete(TERMS).where(TERMS.c.contact_id == contact.id))
    _after_insert(_mapper, connection, contact)


event.listen(Contact, "before_insert", _before_write)
event.listen(Contact, "before_update", _before_write)
event.listen(Contact, "after_insert", _after_insert)
event.listen(Contact, "after_update", _after_update)
