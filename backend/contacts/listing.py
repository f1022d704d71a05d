"""The contacts list narrowed by a filter, a segment or a tag (`GET /api/contacts?filter=|segment=|tag=`).

Contract: `selection_of(args)` reads the query string into a checked selection (None when none of the three is
given; a bad one is a 400, `invalid_filter` for a filter); `page(...)` returns one page in id order and how many
match, a search `q` narrowing it further through the search index.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Table, and_, func, select
from sqlalchemy.orm import Session

from backend.audience.filters import FilterError
from backend.audience.selection import check_selection, condition
from backend.errors import bad_request
from backend.store.models import Contact, ContactTerm, utcnow
from backend.store.search_key import query_terms, upper_bound

CONTACTS = cast(Table, Contact.__table__)
MAX_FILTER = 200_000


def selection_of(args: Mapping[str, str]) -> dict[str, Any] | None:
    given = [k for k in ("filter", "segment", "tag") if args.get(k)]
    if not given:
        return None
    if len(given) > 1:
        raise bad_request("Give one of filter, segment or tag.", [{"field": given[1], "reason": "one at a time"}])
    raw = args[given[0]]
    if given[0] == "tag":
        return check_selection({"tags": [raw]}, "tag")
    if given[0] == "segment":
        if not raw.isdigit() or len(raw) > 19:
            raise bad_request("`segment` must be a segment id.", [{"field": "segment", "reason": "not an id"}])
        return check_selection({"segment_id": int(raw)}, "segment")
    try:
        tree = json.loads(raw) if len(raw) <= MAX_FILTER else None
    except ValueError:
        tree = None
    if tree is None:
        raise FilterError([{"path": "", "reason": "the filter must be JSON"}])
    return check_selection({"filter": tree}, "filter")


def page(
    session: Session, account_id: int, selection: dict[str, Any], q: str | None, limit: int, offset: int
) -> tuple[list[Contact], int]:
    chosen = condition(session, account_id, selection, utcnow())
    wanted = query_terms(q)
    if wanted:
        matches = select(ContactTerm.contact_id).where(
            ContactTerm.account_id == account_id,
            ContactTerm.term >= wanted[0],
            ContactTerm.term < upper_bound(wanted[0]),
        )
        chosen = and_(chosen, CONTACTS.c.id.in_(matches))
    total = session.scalar(select(func.count()).select_from(CONTACTS).where(chosen)) or 0
    rows = session.scalars(select(Contact).where(chosen).order_by(Contact.id).limit(limit).offset(offset))
    return list(rows), int(total)
