"""The store side of outgoing webhooks: endpoint leases, the event-log cursor, deliveries and their outcomes.

A process works an endpoint only while it holds the endpoint's lease (a conditional UPDATE; rowcount says who
won), so several processes share the endpoints and each event becomes one delivery per endpoint: `fan_in`
inserts the deliveries for the events after the cursor and moves the cursor in one transaction, fenced on the
lease (and the unique (endpoint, event) pair backs that up). Outcomes are written fenced on the attempt count, so
a late answer from a process that lost the lease changes nothing. No write transaction spans a network call.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.orm import Session

from backend.events.hub import EventHub
from backend.store.db import Database
from backend.store.models import Event, WebhookDelivery, WebhookEndpoint
from backend.webhooks_out import payloads
from backend.webhooks_out.horizon import Horizon

#: an endpoint's lease; renewed every RENEW_EVERY while worked, so it always outlives a send (at most 5 s to
#: connect plus 15 s per read) by a wide margin.
LEASE = timedelta(seconds=120)
RENEW_EVERY = timedelta(seconds=30)
FAN_IN_BATCH = 500
#: waits after the 1st, 2nd, ... failed attempt (DESIGN section 17); after the last, the delivery has failed.
RETRY_SCHEDULE_S = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
JITTER = 0.1
MAX_RETRY_AFTER_S = 86400
DISABLE_AFTER = timedelta(days=5)
#: finished deliveries are kept this long (what the Settings card and `GET .../deliveries` show), then deleted.
KEEP_FINISHED = timedelta(days=30)
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"


class LeaseLost(Exception):
    """Another process holds the endpoint now; this one stops working it."""


@dataclass(frozen=True)
class Attempt:
    """What one POST gave: an HTTP status (None: no answer), the kept answer, time taken, Retry-After, error."""

    status: int | None
    body: str | None
    duration_ms: int | None
    retry_after_s: float | None
    error: str | None


def new_webhook_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def claimable_endpoints(db: Database, owner: str, now: datetime) -> list[int]:
    """Enabled endpoints with work (events after the cursor, or deliveries due) that no other process holds.
    One read: an idle endpoint costs no write."""
    new_events = exists().where(
        Event.account_id == WebhookEndpoint.account_id,
        Event.id > WebhookEndpoint.cursor,
        Event.type.in_(payloads.LOG_TYPES),
    )
    due = exists().where(
        WebhookDelivery.endpoint_id == WebhookEndpoint.id,
        WebhookDelivery.status == PENDING,
        WebhookDelivery.next_attempt_at <= now,
    )
    with db.read() as session:
        return list(
            session.scalars(
                select(WebhookEndpoint.id)
                .where(
                    WebhookEndpoint.disabled_at.is_(None),
                    (WebhookEndpoint.lease_until.is_(None))
                    | (WebhookEndpoint.lease_until < now)
                    | (WebhookEndpoint.lease_owner == owner),
                    new_events | due,
                )
                .order_by(WebhookEndpoint.id)
            )
        )


def take_lease(db: Database, endpoint_id: int, owner: str, now: datetime) -> bool:
    """Take or renew the endpoint's lease; False when another process holds it or it is disabled."""
    with db.write() as session:
        result = session.execute(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id == endpoint_id,
                WebhookEndpoint.disabled_at.is_(None),
                (WebhookEndpoint.lease_until.is_(None))
                | (WebhookEndpoint.lease_until < now)
                | (WebhookEndpoint.lease_owner == owner),
            )
            .values(lease_owner=owner, lease_until=now + LEASE)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def release_lease(db: Database, endpoint_id: int, owner: str) -> None:
    with db.write() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )


def latest_event_id(session: Session, account_id: int) -> int:
    return int(session.scalar(select(func.max(Event.id)).where(Event.account_id == account_id)) or 0)


def fan_in(db: Database, endpoint_id: int, owner: str, now: datetime, horizon: Horizon | None = None) -> int:
    """Turn the endpoint's next events into deliveries and move its cursor, never past an id that may still
    commit (`horizon`, PostgreSQL); returns how far the cursor moved (0: nothing to do now).
    Raises LeaseLost (writing nothing) when the lease is no longer this process's."""
    with db.read() as session:
        pending = session.execute(
            select(Event.id)
            .join(WebhookEndpoint, WebhookEndpoint.account_id == Event.account_id)
            .where(
                WebhookEndpoint.id == endpoint_id, Event.id > WebhookEndpoint.cursor, Event.type.in_(payloads.LOG_TYPES)
            )
            .limit(1)
        ).first()
    if pending is None:
        return 0
    with db.write() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or endpoint.lease_owner != owner or endpoint.disabled_at is not None:
            raise LeaseLost(str(endpoint_id))
        upto = horizon.safe_upto(session, endpoint.cursor) if horizon is not None else None
        query = select(Event.id, Event.ts, Event.type, Event.data).where(
            Event.account_id == endpoint.account_id, Event.id > endpoint.cursor, Event.type.in_(payloads.LOG_TYPES)
        )
        if upto is not None:
            query = query.where(Event.id <= upto)
        events = session.execute(query.order_by(Event.id).limit(FAN_IN_BATCH)).all()
        # Every id up to the horizon read: the cursor also passes other accounts' events.
        read_all = upto is not None and len(events) < FAN_IN_BATCH
        cursor = upto if read_all and upto is not None else (events[-1].id if events else endpoint.cursor)
        if cursor == endpoint.cursor:
            return 0
        views = payloads.messages_for(session, list(events))
        rows = []
        for ev in events:
            type_ = payloads.webhook_type(ev.type, ev.data or {})
            data = payloads.event_data(ev, views) if type_ else None
            if type_ is None or data is None or not payloads.wanted(list(endpoint.events or []), type_):
                continue
            if not endpoint.include_body:
                data = payloads.strip_bodies(data)
            rows.append(_delivery_row(endpoint, ev.id, type_, payloads.encode(type_, ev.ts, data), now))
        if rows:
            session.execute(WebhookDelivery.__table__.insert(), rows)  # type: ignore[attr-defined]
        moved = session.execute(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id == endpoint_id,
                WebhookEndpoint.lease_owner == owner,
                WebhookEndpoint.cursor == endpoint.cursor,
            )
            .values(cursor=cursor)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(str(endpoint_id))
        return int(cursor - endpoint.cursor)


def _delivery_row(
    endpoint: WebhookEndpoint, event_id: int | None, type_: str, body: str, now: datetime
) -> dict[str, Any]:
    return {
        "account_id": endpoint.account_id,
        "endpoint_id": endpoint.id,
        "event_id": event_id,
        "webhook_id": new_webhook_id(),
        "type": type_,
        "body": body,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def add_test_delivery(session: Session, endpoint: WebhookEndpoint, now: datetime) -> WebhookDelivery:
    """A `webhook.test` delivery for one endpoint, due now."""
    data = {"webhook_id": endpoint.id, "url": endpoint.url, "text": "This is a test from Bulk Messenger."}
    row = WebhookDelivery(
        **_delivery_row(endpoint, None, "webhook.test", payloads.encode("webhook.test", now, data), now)
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Due:
    """A delivery due now, with what its POST needs."""

    id: int
    attempts: int
    webhook_id: str
    body: str


@dataclass(frozen=True)
class Receiver:
    """An endpoint's URL and its sealed secrets that sign now (newest first)."""

    url: str
    sealed_secrets: list[str]


def due_deliveries(db: Database, endpoint_id: int, now: datetime, limit: int) -> tuple[Receiver | None, list[Due]]:
    """The endpoint (None when gone) and its deliveries due now, oldest first: one read for a batch of sends."""
    with db.read() as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None:
            return None, []
        sealed = [endpoint.secret]
        if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
            sealed.append(endpoint.previous_secret)
        rows = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.webhook_id, WebhookDelivery.body)
            .where(
                WebhookDelivery.endpoint_id == endpoint_id,
                WebhookDelivery.status == PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
        ).all()
        return Receiver(endpoint.url, sealed), [Due(r.id, r.attempts, r.webhook_id, r.body) for r in rows]


def retry_delay_s(attempts: int, retry_after_s: float | None) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones (jittered), or None: give up."""
    if attempts > len(RETRY_SCHEDULE_S):
        return None
    delay = RETRY_SCHEDULE_S[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)  # noqa: S311 - not crypto
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, MAX_RETRY_AFTER_S))
    return delay


def record_attempts(db: Database, hub: EventHub, outcomes: list[tuple[Due, Attempt, datetime]]) -> bool:
    """Write attempts' outcomes in one transaction (each fenced on its attempt count) and what they mean for the
    endpoint; returns whether the endpoint is disabled now (410, or 5 days of failures)."""
    if not outcomes:
        return False
    with db.write() as session:
        disabled = False
        for due, attempt, now in outcomes:
            disabled = _record_one(session, hub, due, attempt, now) or disabled
        return disabled


def _record_one(session: Session, hub: EventHub, due: Due, attempt: Attempt, now: datetime) -> bool:
    attempts = due.attempts + 1
    ok = attempt.status is not None and 200 <= attempt.status < 300
    gone = attempt.status == 410
    delay = None if ok or gone else retry_delay_s(attempts, attempt.retry_after_s)
    status = SUCCEEDED if ok else PENDING if delay is not None else FAILED
    values: dict[str, Any] = {
        "status": status,
        "attempts": attempts,
        "response_status": attempt.status,
        "response_body": attempt.body,
        "duration_ms": attempt.duration_ms,
        "last_error": attempt.error,
        "last_attempt_at": now,
    }
    if delay is not None:
        values["next_attempt_at"] = now + timedelta(seconds=delay)
    written = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == due.id,
            WebhookDelivery.attempts == due.attempts,
            WebhookDelivery.status == PENDING,
        )
        .values(**values)
        .returning(WebhookDelivery.endpoint_id)
    ).first()
    if written is None:
        return False
    endpoint = session.get_one(WebhookEndpoint, written.endpoint_id)
    if ok:
        endpoint.failing_since = None
        return endpoint.disabled_at is not None
    endpoint.failing_since = endpoint.failing_since or now
    if gone:
        disable(session, hub, endpoint, "The receiver answered 410 Gone: it no longer wants these events.", now)
    elif now - endpoint.failing_since >= DISABLE_AFTER:
        disable(session, hub, endpoint, "Every delivery failed for 5 days.", now)
    return endpoint.disabled_at is not None


def disable(session: Session, hub: EventHub, endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    """Disable the endpoint with its reason, in the caller's transaction, and log `webhook.disabled`."""
    if endpoint.disabled_at is not None:
        return
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason
    endpoint.lease_owner = None
    endpoint.lease_until = None
    hub.record(
        session,
        endpoint.account_id,
        "webhook.disabled",
        f"Webhook {endpoint.url} was disabled: {reason}",
        level="warning",
        data={"webhook_id": endpoint.id, "url": endpoint.url, "reason": reason},
    )


def enable(session: Session, endpoint: WebhookEndpoint, now: datetime) -> None:
    """Enable a disabled endpoint: its waiting deliveries are due at once, nothing since was lost."""
    endpoint.disabled_at = None
    endpoint.disabled_reason = None
    endpoint.failing_since = None
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.status == PENDING)
        .values(next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )


def prune_finished(db: Database, now: datetime) -> int:
    """Delete deliveries finished more than KEEP_FINISHED ago; returns how many."""
    with db.write() as session:
        result = session.execute(
            delete(WebhookDelivery)
            .where(WebhookDelivery.status != PENDING, WebhookDelivery.created_at < now - KEEP_FINISHED)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
