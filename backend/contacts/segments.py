"""Segments: saved filters of one account (DESIGN section 14).

Contract: each function takes the caller's account and runs in the caller's transaction. A segment's filter is
checked when it is saved (400 `invalid_filter`); deleting one that a draft or scheduled campaign is built from
(its recipients or their `exclude`) is refused with 409 naming those campaigns.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.audience.selection import load_segment, parse_filter
from backend.errors import ApiError, bad_request
from backend.store import states
from backend.store.models import Campaign, Segment, utcnow
from backend.views import iso

MAX_NAME = 200


def segment_view(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "filter": segment.filter,
        "created_at": iso(segment.created_at),
        "updated_at": iso(segment.updated_at),
    }


def _name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_NAME or "\x00" in raw:
        raise bad_request(
            "Give the segment a name of at most 200 characters.", [{"field": "name", "reason": "missing"}]
        )
    return raw.strip()


def listing(session: Session, account_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(Segment).where(Segment.account_id == account_id).order_by(Segment.name, Segment.id))
    return [segment_view(s) for s in rows]


def create(session: Session, account_id: int, body: dict[str, Any]) -> Segment:
    name = _name(body.get("name"))
    parse_filter(body.get("filter"))
    now = utcnow()
    segment = Segment(account_id=account_id, name=name, filter=body["filter"], created_at=now, updated_at=now)
    session.add(segment)
    session.flush()
    return segment


def change(session: Session, segment: Segment, body: dict[str, Any]) -> None:
    if "name" in body:
        segment.name = _name(body["name"])
    if "filter" in body:
        parse_filter(body["filter"])
        segment.filter = body["filter"]
    segment.updated_at = utcnow()
    session.flush()


def users(session: Session, account_id: int, segment_id: int) -> list[Campaign]:
    """Draft and scheduled campaigns built from the segment (as their recipients or their exclusion)."""
    found = session.scalars(
        select(Campaign)
        .where(Campaign.account_id == account_id, Campaign.status.in_((states.DRAFT, states.SCHEDULED)))
        .order_by(Campaign.id)
    )
    return [c for c in found if segment_id in _segments_of(c.recipients or {})]


def _segments_of(recipients: dict[str, Any]) -> set[int]:
    ids = {recipients.get("segment_id")}
    exclude = recipients.get("exclude")
    if isinstance(exclude, dict):
        ids.add(exclude.get("segment_id"))
    return {i for i in ids if isinstance(i, int)}


def delete(session: Session, account_id: int, segment_id: int) -> None:
    segment = load_segment(session, account_id, segment_id)
    using = users(session, account_id, segment_id)
    if using:
        names = ", ".join(f"{c.name} (#{c.id})" for c in using[:10])
        more = f" and {len(using) - 10} more" if len(using) > 10 else ""
        raise ApiError(
            409,
            "conflict",
            f"This segment is used by {len(using)} draft or scheduled campaign{'s' if len(using) != 1 else ''}: "
            f"{names}{more}. Delete or change those campaigns first.",
            [{"campaign_id": c.id, "name": c.name, "status": c.status} for c in using],
        )
    session.delete(segment)
