"""Campaign routes (DESIGN section 9). Every query filters on the caller's account."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context
from sqlalchemy import func, select

from backend.api.core import int_arg
from backend.campaigns import actions, lifecycle
from backend.campaigns import install as install_campaigns
from backend.campaigns.create import compile_parts, create_campaign, parse_time
from backend.campaigns.templates import MissingPlaceholder, RenderBudget, TemplateError
from backend.campaigns.templates import contact_context as context_of
from backend.campaigns.views import campaign_view, export_rows
from backend.campaigns.waiting import with_waiting_reason
from backend.errors import bad_request, json_body
from backend.security.guards import account_id
from backend.security.hardening import is_store_id
from backend.services import Services, current_services
from backend.store import states
from backend.store.models import Campaign, Contact, Message
from backend.views import message_view

bp = Blueprint("campaigns", __name__)
STATUSES = states.CAMPAIGN_STATUSES
MESSAGE_STATUSES = states.MESSAGE_STATUSES


def install(app: Flask, services: Services) -> None:
    install_campaigns(app, services)
    app.register_blueprint(bp)


def services() -> Services:
    return current_services()


def _view(campaign_id: int) -> dict[str, Any]:
    with services().db.read() as session:
        view = campaign_view(session, actions.load(session, account_id(), campaign_id))
        return with_waiting_reason(services(), session, account_id(), view)


@bp.post("/api/campaigns")
def create() -> Any:
    campaign_id, skipped = create_campaign(services(), account_id(), json_body())
    return jsonify({**_view(campaign_id), **skipped}), 201


@bp.post("/api/campaigns/preview")
def preview() -> Any:
    """The rendered message for given contacts (`contact_ids`, default: the first 5 of the account)."""
    body = json_body()
    text, subject = body.get("body"), body.get("subject")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("Write the message to preview.", [{"field": "body", "reason": "missing"}])
    body_t, subject_t = compile_parts(text, subject if isinstance(subject, str) and subject.strip() else None)
    ids = body.get("contact_ids")
    query = select(Contact).where(Contact.account_id == account_id()).order_by(Contact.id)
    if isinstance(ids, list) and ids:
        query = query.where(Contact.id.in_([i for i in ids if is_store_id(i)][:50]))
    else:
        query = query.limit(5)
    items = []
    budget = RenderBudget()
    with services().db.read() as session:
        for contact in session.scalars(query):
            context = context_of(contact.name, contact.phone, contact.email, contact.fields)
            item: dict[str, Any] = {"contact_id": contact.id, "name": contact.name}
            try:
                item["body"] = body_t.render(context, budget)
                item["subject"] = subject_t.render(context, budget) if subject_t else None
            except MissingPlaceholder as exc:
                item["error"] = ", ".join("{{ " + p + " }}" for p in exc.placeholders) + " has no value"
                item["missing"] = exc.placeholders
            except TemplateError as exc:
                item["error"] = exc.message
            items.append(item)
    return jsonify({"items": items, "total": len(items)})


@bp.get("/api/campaigns")
def list_campaigns() -> Any:
    limit = int_arg("limit", default=50, low=1, high=500)
    offset = int_arg("offset", default=0, low=0)
    status = request.args.get("status")
    query = select(Campaign).where(Campaign.account_id == account_id())
    if status:
        if status not in STATUSES:
            raise bad_request(f"`status` must be one of {', '.join(STATUSES)}.")
        query = query.where(Campaign.status == status)
    with services().db.read() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(Campaign.id.desc()).limit(limit).offset(offset)).all()
        items = [campaign_view(session, c, live=c.status in (states.RUNNING, states.PAUSED)) for c in rows]
        items = [with_waiting_reason(services(), session, account_id(), item) for item in items]
    return jsonify({"items": items, "total": total})


@bp.get("/api/campaigns/<int:campaign_id>")
def get_campaign(campaign_id: int) -> Any:
    return jsonify(_view(campaign_id))


@bp.post("/api/campaigns/<int:campaign_id>/start")
def start(campaign_id: int) -> Any:
    body = json_body() if request.data else {}
    actions.start(services(), account_id(), campaign_id, parse_time(body.get("scheduled_at"), "scheduled_at"))
    return jsonify(_view(campaign_id))


@bp.post("/api/campaigns/<int:campaign_id>/pause")
def pause(campaign_id: int) -> Any:
    actions.pause(services(), account_id(), campaign_id)
    return jsonify(_view(campaign_id))


@bp.post("/api/campaigns/<int:campaign_id>/resume")
def resume(campaign_id: int) -> Any:
    actions.resume(services(), account_id(), campaign_id)
    return jsonify(_view(campaign_id))


@bp.post("/api/campaigns/<int:campaign_id>/cancel")
def cancel(campaign_id: int) -> Any:
    actions.cancel(services(), account_id(), campaign_id)
    return jsonify(_view(campaign_id))


@bp.post("/api/campaigns/<int:campaign_id>/retry-failed")
def retry_failed(campaign_id: int) -> Any:
    report = actions.requeue_report(services(), account_id(), campaign_id, states.FAILED)
    return jsonify({**_view(campaign_id), **report})


@bp.post("/api/campaigns/<int:campaign_id>/requeue-uncertain")
def requeue_uncertain(campaign_id: int) -> Any:
    report = actions.requeue_report(services(), account_id(), campaign_id, states.UNCERTAIN)
    return jsonify({**_view(campaign_id), **report})


@bp.get("/api/campaigns/<int:campaign_id>/messages")
def campaign_messages(campaign_id: int) -> Any:
    limit = int_arg("limit", default=100, low=1, high=1000)
    offset = int_arg("offset", default=0, low=0)
    status = request.args.get("status")
    with services().db.read() as session:
        campaign = actions.load(session, account_id(), campaign_id)
        query = select(Message).where(lifecycle.of_campaign(campaign.id, campaign.account_id))
        if status:
            if status not in MESSAGE_STATUSES:
                raise bad_request(f"`status` must be one of {', '.join(MESSAGE_STATUSES)}.")
            query = query.where(Message.status == status)
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(Message.id).limit(limit).offset(offset)).all()
        items = [message_view(m) for m in rows]
    return jsonify({"items": items, "total": total})


@bp.get("/api/campaigns/<int:campaign_id>/export.csv")
def export_csv(campaign_id: int) -> Any:
    with services().db.read() as session:
        campaign = actions.load(session, account_id(), campaign_id)
    filename = f"campaign-{campaign.id}.csv"
    return Response(
        stream_with_context(export_rows(services().db, campaign)),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
