"""The send plan routes (DESIGN section 16): `GET /api/campaigns/<id>/plan` for a campaign's messages still to
go, `POST /api/campaigns/plan` for a draft's body. `?tz=<IANA name>` dates the days in that zone (the browser's);
else the account's `default_timezone`, else UTC. Registered by backend.api.campaigns."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from backend.campaigns import actions
from backend.campaigns.plan_view import campaign_plan, draft_plan, report_zone
from backend.errors import json_body
from backend.security.guards import account_id
from backend.services import current_services

bp = Blueprint("campaign_plan", __name__)


@bp.get("/api/campaigns/<int:campaign_id>/plan")
def plan_of_campaign(campaign_id: int) -> Any:
    services = current_services()
    with services.db.read() as session:
        campaign = actions.load(session, account_id(), campaign_id)
        zone = report_zone(session, campaign.account_id, request.args.get("tz"))
        return jsonify(campaign_plan(session, campaign, services.clock(), zone))


@bp.post("/api/campaigns/plan")
def plan_of_draft() -> Any:
    return jsonify(draft_plan(current_services(), account_id(), json_body(), request.args.get("tz")))
