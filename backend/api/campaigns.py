"""Campaign routes (DESIGN section 9). Every query filters on the caller's account."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, stream_with_context
from sqlalchemy import func, select

from backend.api.campaign_plan import bp as plan_bp
from backend.api.core import int_arg
from backend.campaigns import actions, lifecycle
from backend.campaigns.create import compile_parts, create_campaign
from backend.campaigns.left_out import left_out_view
from backend.campaigns.request_fields import check_variation_seed, parse_time
from backend.campaigns.templates import (
    CompiledTemplate,
    MissingPlaceholder,
    RenderBudget,
    TemplateError,
    placeholder_hints,
    suggestion,
)
from backend.campaigns.templates import contact_context as context_of
from backend.campaigns.views import campaign_view, delivery_reasons, export_options, export_rows
from backend.campaigns.waiting import with_waiting_reason
from backend.channels.sms import length as sms_length
from backend.errors import bad_request, json_body
from backend.security.guards import account_id
from backend.security.hardening import is_store_id
from backend.services import Services, current_services
from backend.store import states
from backend.store.models import Campaign, Contact, LeftOut, Message
from backend.views import message_view

bp = Blueprint("campaigns", __name__)
STATUSES = states.CAMPAIGN_STATUSES
MESSAGE_STATUSES = states.MESSAGE_STATUSES


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(plan_bp)


def services() -> Services:
    return current_services()


def _view(campaign_id: int) -> dict[str, Any]:
    with services().db.read() as session:
        view = campaign_view(session, actions.load(session, account_id(), campaign_id), now=services().clock())
        return with_waiting_reason(services(), session, account_id(), view)


@bp.post("/api/campaigns")
def create() -> Any:
    campaign_id, skipped = create_campaign(services(), account_id(), json_body())
    return jsonify({**_view(campaign_id), **skipped}), 201


@bp.post("/api/campaigns/preview")
def preview() -> Any:
    """The rendered message for given contacts (`contact_ids`, default: the first 5 of the account), each with its
    length and, for SMS, its encoding and parts; `variation_seed` (kept by compose and given again when the
    campaign is created) fixes each recipient's variation options, so the preview is what each person gets."""
    body = json_body()
    text, subject = body.get("body"), body.get("subject")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("Write the message to preview.", [{"field": "body", "reason": "missing"}])
    seed = check_variation_seed(body.get("variation_seed"))
    body_t, subject_t = compile_parts(text, subject if isinstance(subject, str) and subject.strip() else None, seed)
    ids = body.get("contact_ids")
    query = select(Contact).where(Contact.account_id == account_id()).order_by(Contact.id)
    if isinstance(ids, list) and ids:
        query = query.where(Contact.id.in_([i for i in ids if is_store_id(i)][:50]))
    else:
        query = query.limit(5)
    items = []
    known: set[str] = {"name", "first_name", "last_name", "phone", "email"}
    budget = RenderBudget()
    with services().db.read() as session:
        for contact in session.scalars(query):
            context = context_of(contact.name, contact.phone, contact.email, contact.fields)
            known.update(f"fields.{key}" for key in context["fields"])
            known.update(context["fields"])
            items.append(_preview_item(contact, context, (body_t, subject_t), budget, body.get("channel")))
    variants = body_t.variants_total * (subject_t.variants_total if subject_t else 1)
    return jsonify(
        {
            "items": items,
            "total": len(items),
            "variation_seed": seed,
            "variants_total": variants,
            "warnings": placeholder_hints(body_t, subject_t, known),
        }
    )


def _preview_item(
    contact: Contact,
    context: dict[str, Any],
    templates: tuple[CompiledTemplate, CompiledTemplate | None],
    budget: RenderBudget,
    channel: Any,
) -> dict[str, Any]:
    body_t, subject_t = templates
    item: dict[str, Any] = {"contact_id": contact.id, "name": contact.name, "variants_total": body_t.variants_total}
    try:
        item["body"] = body_t.render(context, budget, key=contact.id)
        item["subject"] = subject_t.render(context, budget, key=contact.id) if subject_t else None
    except MissingPlaceholder as exc:
        item["error"] = ", ".join("{{ " + p + " }}" for p in exc.placeholders) + " has no value"
        item["missing"] = exc.placeholders
        hints = {p: suggestion(p, context) for p in exc.placeholders}
        item["suggestions"] = {p: s for p, s in hints.items() if s}
        return item
    except TemplateError as exc:
        item["error"] = exc.message
        return item
    item["length"] = len(item["body"])
    if channel == "sms":
        sms = sms_length.measure(item["body"])
        item.update(encoding=sms.encoding, segments=sms.segments, ucs2_chars=list(sms.ucs2_chars))
    return item


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
    delivery = request.args.get("delivery")
    with services().db.read() as session:
        campaign = actions.load(session, account_id(), campaign_id)
        query = select(Message).where(lifecycle.of_campaign(campaign.id, campaign.account_id))
        if status:
            if status not in MESSAGE_STATUSES:
                raise bad_request(f"`status` must be one of {', '.join(MESSAGE_STATUSES)}.")
            query = query.where(Message.status == status)
        if delivery:
            if delivery != "undelivered":
                raise bad_request("`delivery` can be `undelivered`.", [{"field": "delivery", "reason": "unknown"}])
            query = query.where(Message.delivered.is_(False))
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(Message.id).limit(limit).offset(offset)).all()
        reasons = delivery_reasons(session, [m.id for m in rows if m.delivered is False])
        items = [{**message_view(m), "delivery_reason": reasons.get(m.id)} for m in rows]
    return jsonify({"items": items, "total": total})


@bp.get("/api/campaigns/<int:campaign_id>/left-out")
def list_left_out(campaign_id: int) -> Any:
    """The contacts the campaign did not send to, each with why in words."""
    limit = int_arg("limit", default=100, low=1, high=1000)
    offset = int_arg("offset", default=0, low=0)
    with services().db.read() as session:
        campaign = actions.load(session, account_id(), campaign_id)
        query = select(LeftOut).where(LeftOut.campaign_id == campaign.id, LeftOut.account_id == campaign.account_id)
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(LeftOut.id).limit(limit).offset(offset)).all()
        return jsonify({"items": [left_out_view(r) for r in rows], "total": total})


@bp.get("/api/campaigns/<int:campaign_id>/export.csv")
def export_csv(campaign_id: int) -> Any:
    """The campaign's messages and left-out contacts as CSV: `sep` `,` (default) `;` or `tab` (Excel in a locale
    whose decimal mark is a comma wants `;`), times in `tz` (an IANA zone, default UTC)."""
    options = export_options(request.args.get("sep"), request.args.get("tz"))
    with services().db.read() as session:
        campaign = actions.load(session, account_id(), campaign_id)
    filename = f"campaign-{campaign.id}.csv"
    return Response(
        stream_with_context(export_rows(services().db, campaign, options)),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
