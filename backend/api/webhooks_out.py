"""Outgoing webhooks: endpoints, tests, secret rotation, deliveries (DESIGN section 17).

`POST /api/webhooks` answers the secret once (`whsec_...`); so does `rotate-secret`, after which the old secret
still signs for 24 h. `PATCH` takes `url`, `events`, `include_body` and `enabled` (true enables a disabled
endpoint again). A new endpoint starts at the end of the event log: it gets what happens from now on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, jsonify, request
from sqlalchemy import func, select

from backend.api.core import int_arg
from backend.errors import ApiError, bad_request, json_body, not_found
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store.models import WebhookDelivery, WebhookEndpoint
from backend.views import iso
from backend.webhooks_out import signing, store
from backend.webhooks_out.payloads import WEBHOOK_TYPES
from backend.webhooks_out.urls import AddressPolicy, UrlRefused, check_url

bp = Blueprint("webhooks_out", __name__)

MAX_ENDPOINTS = 20
ROTATION_OVERLAP = timedelta(hours=24)
STATUSES = (store.PENDING, store.SUCCEEDED, store.FAILED)


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


def endpoint_view(row: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": row.url,
        "events": list(row.events or []),
        "include_body": row.include_body,
        "enabled": row.disabled_at is None,
        "disabled_at": iso(row.disabled_at),
        "disabled_reason": row.disabled_reason,
        "previous_secret_expires_at": iso(row.previous_secret_until),
        "created_at": iso(row.created_at),
    }


def delivery_view(row: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": row.id,
        "webhook_id": row.webhook_id,
        "endpoint_id": row.endpoint_id,
        "event_id": row.event_id,
        "type": row.type,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at) if row.status == store.PENDING else None,
        "response_status": row.response_status,
        "response_body": row.response_body,
        "duration_ms": row.duration_ms,
        "last_error": row.last_error,
        "last_attempt_at": iso(row.last_attempt_at),
        "created_at": iso(row.created_at),
    }


def _policy(services: Services) -> AddressPolicy:
    worker = services.webhooks_out
    if worker is None:
        raise ApiError(503, "webhooks_unavailable", "Outgoing webhooks are not set up in this process.")
    return worker.policy


def _check_url(raw: Any, services: Services, problems: list[dict[str, Any]]) -> str | None:
    try:
        check_url(raw, _policy(services))
    except UrlRefused as exc:
        problems.append({"field": "url", "reason": exc.reason})
        return None
    return str(raw)


def _check_events(raw: Any, problems: list[dict[str, Any]]) -> list[str] | None:
    if raw == ["*"]:
        return ["*"]
    if not isinstance(raw, list) or not raw or not all(isinstance(e, str) and e in WEBHOOK_TYPES for e in raw):
        problems.append({"field": "events", "reason": '["*"] or a list of: ' + ", ".join(WEBHOOK_TYPES)})
        return None
    return list(dict.fromkeys(raw))


def _raise(problems: list[dict[str, Any]]) -> None:
    if problems:
        raise bad_request("The webhook cannot be saved: " + "; ".join(p["reason"] for p in problems), problems)


def _endpoint(session: Any, endpoint_id: int) -> WebhookEndpoint:
    row: WebhookEndpoint | None = session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.account_id != account_id():
        raise not_found("webhook")
    return row


@bp.post("/api/webhooks")
def create_endpoint() -> Any:
    services = current_services()
    body = json_body()
    problems: list[dict[str, Any]] = []
    url = _check_url(body.get("url"), services, problems)
    events = _check_events(body.get("events"), problems)
    include_body = body.get("include_body", False)
    if not isinstance(include_body, bool):
        problems.append({"field": "include_body", "reason": "true or false"})
    _raise(problems)
    secret = signing.new_secret()
    now = services.clock()
    with services.db.write() as session:
        count = session.scalar(select(func.count()).where(WebhookEndpoint.account_id == account_id()))
        if (count or 0) >= MAX_ENDPOINTS:
            raise ApiError(409, "too_many_webhooks", f"An account has at most {MAX_ENDPOINTS} webhooks.")
        row = WebhookEndpoint(
            account_id=account_id(),
            url=url,
            events=events,
            include_body=include_body,
            secret=services.secrets.box.seal(secret),
            cursor=store.latest_event_id(session, account_id()),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
        view = endpoint_view(row)
    return jsonify({**view, "secret": secret}), 201


@bp.get("/api/webhooks")
def list_endpoints() -> Any:
    with current_services().db.read() as session:
        rows = session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.account_id == account_id()).order_by(WebhookEndpoint.id)
        ).all()
        items = [endpoint_view(r) for r in rows]
    return jsonify({"items": items, "total": len(items)})


@bp.get("/api/webhooks/<int:endpoint_id>")
def get_endpoint(endpoint_id: int) -> Any:
    with current_services().db.read() as session:
        return jsonify(endpoint_view(_endpoint(session, endpoint_id)))


@bp.patch("/api/webhooks/<int:endpoint_id>")
def update_endpoint(endpoint_id: int) -> Any:
    services = current_services()
    body = json_body()
    problems: list[dict[str, Any]] = []
    url = _check_url(body["url"], services, problems) if "url" in body else None
    events = _check_events(body["events"], problems) if "events" in body else None
    for flag in ("include_body", "enabled"):
        if flag in body and not isinstance(body[flag], bool):
            problems.append({"field": flag, "reason": "true or false"})
    _raise(problems)
    with services.db.write() as session:
        row = _endpoint(session, endpoint_id)
        if url is not None:
            row.url = url
        if events is not None:
            row.events = events
        if "include_body" in body:
            row.include_body = body["include_body"]
        if body.get("enabled") is True and row.disabled_at is not None:
            store.enable(session, row, services.clock())
        elif body.get("enabled") is False and row.disabled_at is None:
            store.disable(session, services.hub, row, "Disabled by hand.", services.clock())
        view = endpoint_view(row)
    _nudge(services)
    return jsonify(view)


@bp.delete("/api/webhooks/<int:endpoint_id>")
def delete_endpoint(endpoint_id: int) -> Any:
    with current_services().db.write() as session:
        session.delete(_endpoint(session, endpoint_id))
    return "", 204


@bp.post("/api/webhooks/<int:endpoint_id>/test")
def send_test(endpoint_id: int) -> Any:
    services = current_services()
    with services.db.write() as session:
        row = _endpoint(session, endpoint_id)
        if row.disabled_at is not None:
            raise ApiError(409, "webhook_disabled", "This webhook is disabled; enable it to send a test.")
        view = delivery_view(store.add_test_delivery(session, row, services.clock()))
    _nudge(services)
    return jsonify(view), 202


@bp.post("/api/webhooks/<int:endpoint_id>/rotate-secret")
def rotate_secret(endpoint_id: int) -> Any:
    services = current_services()
    secret = signing.new_secret()
    with services.db.write() as session:
        row = _endpoint(session, endpoint_id)
        row.previous_secret = row.secret
        row.previous_secret_until = services.clock() + ROTATION_OVERLAP
        row.secret = services.secrets.box.seal(secret)
        view = endpoint_view(row)
    return jsonify({**view, "secret": secret})


@bp.get("/api/webhooks/<int:endpoint_id>/deliveries")
def list_deliveries(endpoint_id: int) -> Any:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise bad_request("`status` must be pending, succeeded or failed.", [{"field": "status", "reason": "unknown"}])
    limit = int_arg("limit", default=50, low=1, high=500)
    offset = int_arg("offset", default=0, low=0)
    with current_services().db.read() as session:
        _endpoint(session, endpoint_id)
        query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(WebhookDelivery.status == status)
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit).offset(offset)).all()
        items = [delivery_view(r) for r in rows]
    return jsonify({"items": items, "total": total})


@bp.post("/api/webhook-deliveries/<int:delivery_id>/retry")
def retry_delivery(delivery_id: int) -> Any:
    """Send it again now, with the same `webhook-id` and body."""
    services = current_services()
    with services.db.write() as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None or row.account_id != account_id():
            raise not_found("delivery")
        row.status = store.PENDING
        row.next_attempt_at = services.clock()
        view = delivery_view(row)
    _nudge(services)
    return jsonify(view), 202


def _nudge(services: Services) -> None:
    services.webhooks_out.nudge()
