"""Health, WebSocket tickets and the event log (signing in: backend/api/sessions.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify, request
from sqlalchemy import func, select

from backend import __version__
from backend.conversations.inbox_health import health_warnings
from backend.errors import bad_request
from backend.events import refs
from backend.events.hub import envelope
from backend.security.guards import current_principal, signed_in_principal
from backend.security.tokens import WS_TICKET_TTL_S
from backend.services import Services, current_services
from backend.store.models import Event

bp = Blueprint("core", __name__)


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)


EVENTS_MAX_LIMIT = 1000
#: largest number a query argument (offset, after) may be: more than any table holds, less than the store's ints.
MAX_QUERY_INT = 2**62


def services() -> Services:
    return current_services()


@bp.get("/api/health")
def health() -> Any:
    """ok in milliseconds; 503 `degraded` with each problem in words when the store cannot be reached or written."""
    probe = current_services().store_health
    problems = probe.problems()
    if problems:
        # Anyone may ask (no token): the words say what is wrong and what to do; folders only to a signed-in caller.
        shown = [p.as_dict(with_paths=signed_in_principal() is not None) for p in problems]
        body = {"status": "degraded", "problems": shown, "version": __version__}
        response = jsonify(body)
        response.status_code = 503
    else:
        body = {"status": "ok", "version": __version__}
        warnings = health_warnings(current_services())
        if warnings:
            body["warnings"] = warnings  # something outside the store is down (an inbox): sending goes on
        response = jsonify(body)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/ws-ticket")
def ws_ticket() -> Any:
    ticket = services().signer.issue(current_principal(), kind="ws", ttl_s=WS_TICKET_TTL_S)
    return jsonify({"ticket": ticket})


@bp.get("/api/events")
def list_events() -> Any:
    after = int_arg("after", default=None, low=0)
    limit = int_arg("limit", default=200, low=1, high=EVENTS_MAX_LIMIT)
    account_id = current_principal().account_id
    with services().db.read() as session:
        query = select(Event).where(Event.account_id == account_id)
        if after is None:
            # Without `after`: the newest `limit` events, oldest first.
            rows = list(session.scalars(query.order_by(Event.id.desc()).limit(limit)))[::-1]
        else:
            rows = list(session.scalars(query.where(Event.id > after).order_by(Event.id).limit(limit)))
        total = session.scalar(select(func.count()).select_from(Event).where(Event.account_id == account_id))
        views = refs.message_views(session, rows)
    return jsonify({"items": [envelope(ev, views) for ev in rows], "total": total})


def int_arg(name: str, *, default: int | None, low: int = 0, high: int | None = None) -> Any:
    """A whole-number query argument (ASCII digits, at most 2**62 unless `high` says less), or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    high = MAX_QUERY_INT if high is None else high
    try:
        if not raw.isascii() or len(raw) > 20:
            raise ValueError(raw)
        value = int(raw)
    except ValueError:
        raise bad_request(f"`{name}` must be a whole number.", [{"field": name, "reason": "not a number"}]) from None
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high != MAX_QUERY_INT else f"at least {low}"
        raise bad_request(f"`{name}` must be {bound}.", [{"field": name, "reason": f"must be {bound}"}])
    return value
