"""The contact search index: `contacts.search_key` and the `contact_terms` rows, kept in step with every write.

ORM writes (the contact routes, contacts created by inbound messages) are covered by mapper events registered
here; the bulk import writes the key with its rows and their terms with `replace_terms`, in the same
transaction. A search is one range scan of the `(account_id, term)` primary key: the folded query is a prefix of
one of the contact's terms. On PostgreSQL the matches are counted and paged in the server, and a large import is
followed by a vacuum (`tidy_soon`) so that the scan reads the index alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, delete, event, func, insert, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapper, Session

from backend.store.derived import derived
from backend.store.models import Contact, ContactTerm
from backend.store.search_key import all_terms, query_terms, search_key, upper_bound

if TYPE_CHECKING:
    from backend.store.db import Database

log = logging.getLogger(__name__)

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


def matching_page(
    session: Session, account_id: int, q: str | None, limit: int, offset: int
) -> tuple[list[int], int] | None:
    """The ids of one page (in id order) of the account's contacts matching `q`, and how many match; None when `q`
    holds nothing to match.

    One range scan of the (account_id, term) key; a contact matched through several of its terms (its name and its
    email both start with "ana") is counted once.
    """
    wanted = query_terms(q)
    if not wanted:
        return None
    prefix = wanted[0]
    connection = session.connection()
    # Through the driver: thousands of ids through ORM rows cost more than the index scan itself.
    cursor = connection.connection.cursor()
    try:
        if connection.dialect.name == "postgresql":
            # Counted and paged in the server: a broad prefix ("ros") matches tens of thousands of contacts of a
            # million, and sending every id to Python took longer than the scan (bench/contact_search.py).
            first, last = (min(n, _PG_MAX_SUBSCRIPT) for n in (offset + 1, offset + limit))
            cursor.execute(_PG_PAGE, (first, last, account_id, prefix, upper_bound(prefix)))
            row = cursor.fetchone()  # an aggregate: always one row
            assert row is not None
            total, page = row
            return list(page or []), int(total)
        # SQLite (in-process, no transfer): no DISTINCT in SQL, with it SQLite may walk the whole contact_id index
        # (in order, to skip duplicates) instead of the key's range; the few duplicates are dropped here.
        cursor.execute(_SQLITE_MATCHES, (account_id, prefix, upper_bound(prefix)))
        ids = sorted({row[0] for row in cursor.fetchall()})
    finally:
        cursor.close()
    return ids[offset : offset + limit], len(ids)


_SQLITE_MATCHES = "SELECT contact_id FROM contact_terms WHERE account_id = ? AND term >= ? AND term < ?"
#: array subscripts are 4-byte integers; no account holds that many matches.
_PG_MAX_SUBSCRIPT = 2**31 - 1
#: the count and one page of the distinct matches (PostgreSQL arrays are 1-based, slices inclusive).
_PG_PAGE = (
    "SELECT count(*), (array_agg(contact_id ORDER BY contact_id))[%s:%s] FROM ("
    "SELECT DISTINCT contact_id FROM contact_terms WHERE account_id = %s AND term >= %s AND term < %s) AS matches"
)


def search(session: Session, account_id: int, q: str | None, limit: int, offset: int) -> tuple[list[Contact], int]:
    """The account's contacts matching `q` (all when empty) in id order, and how many match."""
    matched = matching_page(session, account_id, q, limit, offset)
    query = select(Contact).where(Contact.account_id == account_id).order_by(Contact.id)
    if matched is None:
        total = session.scalar(select(func.count()).select_from(CONTACTS).where(CONTACTS.c.account_id == account_id))
        return list(session.scalars(query.limit(limit).offset(offset))), int(total or 0)
    page, total = matched
    # By primary key alone: with `account_id = ?` beside it SQLite may walk the account's index in id order (a
    # million rows) to save sorting 25. The ids come from the account's own terms.
    found = session.scalars(select(Contact).where(Contact.id.in_(page))).all() if page else []
    rows = sorted((c for c in found if c.account_id == account_id), key=lambda c: c.id)
    return rows, total


# ---- keeping the index fast on PostgreSQL ----

#: an import that wrote at least this many contacts is followed by `tidy` (in the background).
TIDY_AFTER_CONTACTS = 1_000


def tidy(db: Database) -> None:
    """PostgreSQL: VACUUM (ANALYZE) the search index and the contacts; SQLite: nothing to do.

    A search reads the index alone (an index-only scan) where the table's pages are marked all-visible, which only
    a vacuum does; on pages written since, it also reads the table, row by row. Right after 1,000,000 contacts
    were imported a broad prefix ("ros", 60,000 index entries) took 350 ms that way, and 13 ms once vacuumed.
    Autovacuum gets there by itself where it is on (the default), a minute or more later; it can be off.
    """
    if db.dialect != "postgresql":
        return
    with db.write_engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM runs outside a transaction
        version = connection.dialect.server_version_info or (0,)
        options = "ANALYZE, SKIP_LOCKED" if version >= (12,) else "ANALYZE"  # another vacuum at work: leave it be
        for table in ("contact_terms", "contacts"):
            connection.exec_driver_sql(f"VACUUM ({options}) {table}")


class _Tidier:
    """Runs `tidy` in one background thread per store; asked again while it runs, it runs once more after."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, Database] = {}
        self._running: set[int] = set()

    def ask(self, db: Database) -> threading.Thread | None:
        key = id(db)
        with self._lock:
            self._pending[key] = db
            if key in self._running:
                return None
            self._running.add(key)
        thread = threading.Thread(target=self._run, args=(key,), name="search-index-tidy", daemon=True)
        thread.start()
        return thread

    def _run(self, key: int) -> None:
        while True:
            with self._lock:
                db = self._pending.pop(key, None)
                if db is None:
                    self._running.discard(key)
                    return
            try:
                tidy(db)
            except Exception as exc:  # the store went away or the role may not vacuum: searches stay correct
                log.warning("could not vacuum the contact search index: %s", type(exc).__name__)


_tidier = _Tidier()


def tidy_soon(db: Database) -> threading.Thread | None:
    """`tidy` in the background (after a large import); returns the thread started, if one was."""
    if db.dialect != "postgresql":
        return None
    return _tidier.ask(db)


# ---- ORM writes ----


def _before_write(_mapper: Mapper[Any], _connection: Connection, contact: Contact) -> None:
    contact.search_key = search_key(contact.name, contact.email, contact.phone)
    for column, value in derived(contact.name, contact.phone, contact.fields).items():
        setattr(contact, column, value)


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
