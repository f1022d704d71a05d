"""Delivery status routes (DESIGN section 6): run the job now, and the counts a dashboard shows.

`POST /api/trigger/delivery-status` (also `POST /api/trigger/conversations/support-message-status`, the
original system's path) runs one sweep over the caller's account only and answers what it did: claimed,
delivered, undelivered, not_final, expired, polled, made_due, duration_ms. A sweep scoped to the account never
touches, and so never reports, another account's messages. Like the scheduled sweep it checks messages that are
due and messages that got a final communication; it does not skip the back-off of the others. It runs even
where BULKMSG_DELIVERY_JOB=false (that turns the background job off, not an explicit request).

`GET /api/delivery-status` -> {pending, in_progress, delivered, undelivered, expired, oldest_pending_s} for the
caller's account: `pending` waits for a check, `in_progress` is being checked (leased) now; the five counts do
not overlap.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify

from backend.jobs.delivery.store import delivery_counts
from backend.security.guards import account_id
from backend.services import Services
from backend.store.models import utcnow

bp = Blueprint("delivery", __name__)


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


@bp.post("/api/trigger/delivery-status")
@bp.post("/api/trigger/conversations/support-message-status")
def trigger_delivery_status() -> Any:
    services: Services = current_app.extensions["bulkmsg"]
    done = services.delivery_job.run_once(account_id=account_id())
    return jsonify(done)


@bp.get("/api/delivery-status")
def delivery_status() -> Any:
    services: Services = current_app.extensions["bulkmsg"]
    with services.db.read() as session:
        counts = delivery_counts(session, account_id(), utcnow())
    return jsonify(counts)
