"""Tags on imported contacts: the form's `tags` on every row, and each row's own (a column mapped to `tags`).

Contract: runs in the import's write transaction, one chunk at a time, after `merge.write_chunk` wrote the
chunk: the written records' contacts are found by phone or email (two indexed look-ups), unknown tag names are
created once, and the links are inserted in one statement that skips links already there.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.contacts.merge import CONTACTS, Record, _existing
from backend.contacts.tags import ensure
from backend.store.models import ContactTag
from backend.store.search_key import fold

LINKS = cast(Table, ContactTag.__table__)


def tag_ids(session: Session, account_id: int, names: list[str]) -> list[int]:
    return [t.id for t in ensure(session, account_id, names)]


def tag_records(session: Session, account_id: int, records: list[Record], common: list[int]) -> None:
    """Link each written record's contact to the `common` tag ids and to its own tags."""
    wanted = [r for r in records if common or r.tags]
    if not wanted:
        return
    own: dict[str, str] = {}
    for record in wanted:
        for name in record.tags:
            own.setdefault(fold(name), name)  # a new tag is named as the file first spells it
    by_key = {fold(t.name): t.id for t in ensure(session, account_id, list(own.values()))} if own else {}
    by_phone, by_email = _existing(session, account_id, wanted, (CONTACTS.c.id, CONTACTS.c.phone, CONTACTS.c.email))
    links: set[tuple[int, int]] = set()
    for record in wanted:
        found = (by_phone.get(record.phone) if record.phone else None) or (
            by_email.get(record.email) if record.email else None
        )
        if found is None:
            continue
        for tag_id in [*common, *(by_key[fold(n)] for n in record.tags)]:
            links.add((tag_id, found.id))
    if not links:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    rows = [{"tag_id": t, "contact_id": c} for t, c in sorted(links)]
    for start in range(0, len(rows), 5000):
        session.execute(insert(LINKS).on_conflict_do_nothing(), rows[start : start + 5000])
