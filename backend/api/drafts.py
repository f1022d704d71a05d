"""Drafts: compose's autosave and deleting a draft campaign.

- `GET /api/compose-draft` -> {"snapshot", "saved_at"} (404 when there is none); `PUT` {"snapshot": {...}} keeps
  what compose holds (at most MAX_BYTES of JSON) -> {"saved_at"}; `DELETE` forgets it. One per account: compose
  saves as the user types, so a reload, a crash or a closed desktop window (whose browser storage is private and
  dies with it) loses nothing.
- `DELETE /api/campaigns/<id>`: a draft only (409 for a campaign that was started or scheduled): compose saves
  an edited draft as a new campaign and deletes the one it replaces.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request

from backend.campaigns import actions
from backend.errors import ApiError, bad_request, json_body, not_found
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store import states
from backend.store.models import ComposeDraft
from backend.views import iso

bp = Blueprint("drafts", __name__)
MAX_BYTES = 256 * 1024


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


@bp.get("/api/compose-draft")
def get_draft() -> Any:
    with current_services().db.read() as session:
        draft = session.get(ComposeDraft, account_id())
        if draft is None:
            raise not_found("A compose draft")
        return jsonify({"snapshot": draft.snapshot, "saved_at": iso(draft.saved_at)})


@bp.put("/api/compose-draft")
def put_draft() -> Any:
    if (request.content_length or 0) > MAX_BYTES:
        raise ApiError(413, "too_large", "The draft is larger than 256 KB; shorten the message.")
    snapshot = json_body().get("snapshot")
    if not isinstance(snapshot, dict) or len(json.dumps(snapshot)) > MAX_BYTES:
        raise bad_request("`snapshot` must be an object of at most 256 KB.", [{"field": "snapshot", "reason": "bad"}])
    services = current_services()
    now = services.clock()
    with services.db.write() as session:
        draft = session.get(ComposeDraft, account_id())
        if draft is None:
            session.add(ComposeDraft(account_id=account_id(), snapshot=snapshot, saved_at=now))
        else:
            draft.snapshot, draft.saved_at = snapshot, now
    return jsonify({"saved_at": iso(now)})


@bp.delete("/api/compose-draft")
def delete_draft() -> Any:
    with current_services().db.write() as session:
        draft = session.get(ComposeDraft, account_id())
        if draft is not None:
            session.delete(draft)
    return Response(status=204)


@bp.delete("/api/campaigns/<int:campaign_id>")
def delete_draft_campaign(campaign_id: int) -> Any:
    with current_services().db.write() as session:
        campaign = actions.load(session, account_id(), campaign_id)
        if campaign.status != states.DRAFT:
            raise ApiError(409, "not_a_draft", "Only a draft can be deleted; this campaign was started or scheduled.")
        session.delete(campaign)
    return Response(status=204)
