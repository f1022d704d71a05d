"""Who a request means: a selection (contact ids, everyone, tags, a saved segment or a filter, minus an optional
`exclude` of the same shapes) checked and turned into one SQL condition, and the count of who it reaches.

Contract: `check_selection(raw)` returns the selection normalised (what a campaign keeps) or raises a 400 naming
the field; `condition(session, account_id, selection, now)` is a boolean expression over the contacts table that
always holds the account (backend/audience/filter_sql.py); `count(...)` says how many match, how many each
channel family reaches, how many opted out and how many have no address, with a sample.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    func,
    not_,
    select,
)
from sqlalchemy.orm import Session

from backend.audience import filter_sql, filters, reach
from backend.audience.filters import FilterError
from backend.channels.families import FAMILIES
from backend.errors import bad_request, not_found
from backend.security.hardening import is_store_id
from backend.store.id_lists import among
from backend.store.models import Contact, Segment

CONTACTS = cast(Table, Contact.__table__)
C = CONTACTS.c
SHAPES = ("contact_ids", "all", "tags", "segment_id", "filter")
MAX_IDS = 1_000_000
SAMPLE = 10


def _shape_error(field: str) -> Exception:
    return bad_request(
        f"`{field}` must be one of: " + '{"contact_ids": [...]}, {"all": true}, {"tags": [...], "match": "any"|"all"}, '
        '{"segment_id": id}, {"filter": {...}}.',
        [{"field": field, "reason": "not a selection"}],
    )


def check_selection(raw: Any, field: str = "recipients", nested: bool = False) -> dict[str, Any]:
    """The selection, normalised; a filter is checked (400 `invalid_filter` with paths under `field`)."""
    if not isinstance(raw, dict):
        raise _shape_error(field)
    given = [k for k in SHAPES if k in raw]
    allowed = {*given, "match"} | (set() if nested else {"exclude"})
    if len(given) != 1 or set(raw) - allowed:
        raise _shape_error(field)
    shape = given[0]
    value = raw[shape]
    out: dict[str, Any]
    if shape == "all":
        if value is not True:
            raise _shape_error(field)
        out = {"all": True}
    elif shape == "contact_ids":
        if not isinstance(value, list) or not value or len(value) > MAX_IDS or not all(is_store_id(i) for i in value):
            raise bad_request(
                "`contact_ids` must be a list of contact ids.",
                [{"field": field, "reason": "contact_ids must be contact ids"}],
            )
        out = {"contact_ids": sorted(set(value))}
    elif shape == "tags":
        match = raw.get("match", "any")
        if match not in ("any", "all"):
            raise bad_request('`match` is "any" or "all".', [{"field": f"{field}.match", "reason": "unknown"}])
        _parse(filters.tags_filter(value, match), f"{field}.tags")
        out = {"tags": value if isinstance(value, list) else [value], "match": match}
    elif shape == "segment_id":
        if not is_store_id(value):
            raise bad_request(
                "`segment_id` must be a segment id.", [{"field": field, "reason": "segment_id must be a segment id"}]
            )
        out = {"segment_id": value}
    else:
        _parse(value, f"{field}.filter" if nested or field != "filter" else "")
        out = {"filter": value}
    if not nested and raw.get("exclude") is not None:
        out["exclude"] = check_selection(raw["exclude"], f"{field}.exclude", nested=True)
    return out


def _parse(tree: Any, prefix: str) -> filters.Node:
    try:
        return filters.parse(tree)
    except FilterError as exc:
        if not prefix:
            raise
        details = [{**d, "path": f"{prefix}.{d['path']}" if d["path"] else prefix} for d in exc.details or []]
        raise FilterError(details) from None


def parse_filter(tree: Any) -> filters.Node:
    """A filter given alone (a segment, a count, a list): paths relative to the filter."""
    return filters.parse(tree)


def load_segment(session: Session, account_id: int, segment_id: int) -> Segment:
    segment = session.get(Segment, segment_id)
    if segment is None or segment.account_id != account_id:
        raise not_found("This segment")
    return segment


def condition(session: Session, account_id: int, selection: dict[str, Any], now: datetime) -> ColumnElement[bool]:
    """The account's contacts the (checked) selection means, its `exclude` left out."""
    chosen = _one(session, account_id, selection, now)
    if "exclude" in selection:
        chosen = and_(chosen, not_(_one(session, account_id, selection["exclude"], now)))
    return chosen


def _one(session: Session, account_id: int, selection: dict[str, Any], now: datetime) -> ColumnElement[bool]:
    if selection.get("all"):
        return C.account_id == account_id
    if "contact_ids" in selection:
        return and_(C.account_id == account_id, ids_in(session, selection["contact_ids"]))
    if "tags" in selection:
        tree = filters.tags_filter(selection["tags"], selection.get("match", "any"))
    elif "segment_id" in selection:
        tree = load_segment(session, account_id, selection["segment_id"]).filter
    else:
        tree = selection["filter"]
    return filter_sql.where(filters.parse(tree), account_id, now)


def ids_in(session: Session, ids: list[int]) -> ColumnElement[bool]:
    """`contacts.id` among `ids`, as ONE parameter (a million ids would pass SQLite's limit on parameters)."""
    return among(session, C.id, ids, "contact_ids")


def count(session: Session, account_id: int, chosen: ColumnElement[bool]) -> dict[str, Any]:
    """{"total", "reachable": {family: n}, "opted_out", "no_address", "by_channel", "sample"} of `chosen`.

    `opted_out`: contacts opted out of every channel; `no_address`: contacts with neither phone nor email;
    `by_channel`: per family, how many are opted out of it and how many (not opted out) have no address for it.
    """
    groups = session.execute(select(C.reach, func.count()).where(chosen).group_by(C.reach)).all()
    figures = reach.summary((int(r), int(n)) for r, n in groups)
    total, by_channel = figures["total"], figures["by_channel"]
    sample = list(session.scalars(select(Contact).where(chosen).order_by(Contact.id).limit(SAMPLE)))
    return {
        "total": total,
        "reachable": {f: total - by_channel[f]["opted_out"] - by_channel[f]["no_address"] for f in FAMILIES},
        "opted_out": figures["opted_out"],
        "no_address": figures["no_address"],
        "by_channel": by_channel,
        "sample": sample,
    }
