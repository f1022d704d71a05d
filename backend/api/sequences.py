"""Sequence routes (DESIGN section 18): enrol contacts, list enrolments. A sequence is created, started,
paused, resumed and cancelled through the campaign routes (`"kind": "sequence"`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, request
from sqlalchemy import func, select

from backend.api.core import int_arg
from backend.audience.filters import FilterError
from backend.audience.selection import check_selection, condition
from backend.campaigns import actions
from backend.errors import ApiError, bad_request, json_body
from backend.security.guards import account_id
from backend.sequences.enroll import count_chosen, enroll
from backend.sequences.views import enrollment_view
from backend.services import Services, current_services
from backend.store import states
from backend.store.models import Campaign, Contact
from backend.store.models.sequences import ENROLLMENT_STATUSES, SequenceEnrollment

bp = Blueprint("sequences", __name__)
SHAPES = ("contact_ids", "filter", "segment_id")


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)


def _sequence(session: Any, campaign_id: int) -> Campaign:
    campaign = actions.load(session, account_id(), campaign_id)
    if campaign.kind != "sequence":
        raise ApiError(409, "not_a_sequence", "This campaign is not a sequence: only a sequence takes enrolments.")
    return campaign


@bp.post("/api/campaigns/<int:campaign_id>/enroll")
def enroll_contacts(campaign_id: int) -> Any:
    """`{contact_ids | filter | segment_id}` -> `{"enrolled", "already", "no_address"}`."""
    body = json_body()
    given = [k for k in SHAPES if k in body]
    if len(given) != 1 or set(body) - set(SHAPES):
        reason = "give one of contact_ids, filter or segment_id"
        raise bad_request(f"Say whom to enrol: {reason}.", [{"field": "contact_ids", "reason": reason}])
    try:
        selection = check_selection(body, field=given[0])
    except FilterError:
        raise
    services = current_services()
    now = services.clock()
    with services.db.write() as session:
        campaign = _sequence(session, campaign_id)
        if campaign.status not in (states.DRAFT, states.SCHEDULED, states.RUNNING):
            what = "resume it" if campaign.status == states.PAUSED else "enrol into a sequence that is running"
            raise ApiError(
                409,
                "conflict",
                f"This sequence is {campaign.status}; {what} first.",
                [{"field": "status", "reason": f"the sequence is {campaign.status}"}],
            )
        chosen = condition(session, account_id(), selection, now)
        matched, no_address = count_chosen(session, campaign, chosen)
        if "contact_ids" in selection:
            found = set(session.scalars(select(Contact.id).where(chosen)))
            unknown = sorted(set(selection["contact_ids"]) - found)
            if unknown:
                raise bad_request(
                    f"{len(unknown)} of the chosen contacts do not exist.",
                    [{"field": "contact_ids", "contact_id": i, "reason": "no such contact"} for i in unknown[:100]],
                )
        enrolled = enroll(session, campaign, chosen, now, "manual")
        if enrolled:
            services.hub.record(
                session,
                campaign.account_id,
                "sequence.enrolled",
                f"{enrolled} contact{'s' if enrolled != 1 else ''} enrolled in the sequence {campaign.name}",
                data={"campaign_id": campaign.id, "enrolled": enrolled, "source": "manual"},
            )
    return jsonify({"enrolled": enrolled, "already": matched - no_address - enrolled, "no_address": no_address})


@bp.get("/api/campaigns/<int:campaign_id>/enrollments")
def list_enrollments(campaign_id: int) -> Any:
    limit = int_arg("limit", default=100, low=1, high=1000)
    offset = int_arg("offset", default=0, low=0)
    status = request.args.get("status")
    services = current_services()
    with services.db.read() as session:
        campaign = _sequence(session, campaign_id)
        query = select(SequenceEnrollment).where(SequenceEnrollment.campaign_id == campaign.id)
        if status:
            if status not in ENROLLMENT_STATUSES:
                reason = f"must be one of {', '.join(ENROLLMENT_STATUSES)}"
                raise bad_request(f"`status` {reason}.", [{"field": "status", "reason": reason}])
            query = query.where(SequenceEnrollment.status == status)
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(SequenceEnrollment.id).limit(limit).offset(offset)).all()
        contacts = {
            c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_([r.contact_id for r in rows])))
        }
        steps = len((campaign.sequence or {}).get("steps") or [])
        items = [enrollment_view(r, contacts.get(r.contact_id), steps) for r in rows]
    return jsonify({"items": items, "total": total})


@bp.patch("/api/campaigns/<int:campaign_id>")
def change_sequence(campaign_id: int) -> Any:
    """A sequence's `name`, `steps`, `exit_on` and `reenter` (checked as at creation), until it is completed or
    cancelled. New steps apply to the steps made from now on: a contact keeps the steps already sent, and one who
    has had as many steps as the sequence now holds is done. Campaigns are not changed this way (409)."""
    from backend.campaigns.attachments import account_public_url
    from backend.sequences.definition import check_sequence

    body = json_body()
    unknown = sorted(set(body) - {"name", "steps", "exit_on", "reenter"})
    if unknown:
        raise bad_request(
            "Only name, steps, exit_on and reenter can change.",
            [{"field": k, "reason": "cannot change"} for k in unknown],
        )
    services = current_services()
    with services.db.write() as session:
        campaign = _sequence(session, campaign_id)
        if campaign.status in (states.COMPLETED, states.CANCELLED):
            raise ApiError(409, "conflict", f"This sequence is {campaign.status}; it cannot change.")
        current = dict(campaign.sequence or {})
        public_url = account_public_url(session, campaign.account_id, services.config.public_url)
        merged = {"steps": current.get("steps"), "exit_on": current.get("exit_on"), "reenter": current.get("reenter")}
        merged.update({k: v for k, v in body.items() if k != "name"})
        merged["trigger"] = {k: v for k, v in (current.get("trigger") or {}).items() if k != "tag_id"}
        checked = check_sequence(session, campaign.account_id, campaign.channel, merged, public_url)
        if "name" in body:
            name = body["name"]
            if not isinstance(name, str) or not name.strip() or len(name) > 200:
                reason = "give a name of at most 200 characters"
                raise bad_request(f"The name is not valid: {reason}.", [{"field": "name", "reason": reason}])
            campaign.name = name.strip()
        campaign.sequence = checked
        campaign.subject, campaign.body = checked["steps"][0]["subject"], checked["steps"][0]["body"]
        campaign.attachments = [f for step in checked["steps"] for f in step["attachments"]]
        campaign.updated_at = services.clock()
    from backend.api.campaigns import _view

    return jsonify(_view(campaign_id))
