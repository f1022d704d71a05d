"""Helpers for the delivery-status tests: sent messages, provider reports, a settable clock, signed webhooks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, text

from backend.channels.base import DeliveryReport
from backend.communications import record_communication
from backend.events import refs
from backend.events.hub import envelope
from backend.store.models import Event, Message, UTCDateTime, utcnow
from backend.webhooks.communications import signature


@dataclass
class Clock:
    """A clock the tests move by hand (`DeliveryStatusJob(clock=...)`)."""

    now: datetime = field(default_factory=utcnow)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def add_sent(
    services: Any,
    n: int = 1,
    *,
    at: datetime | None = None,
    account_id: int = 1,
    channel: str = "smtp",
    recipient: str = "ann{}@example.org",
) -> list[int]:
    """`n` messages in `sent`, due for their first delivery check at `at`; returns their ids."""
    at = at or utcnow()
    with services.db.write() as session:
        rows = [
            Message(
                account_id=account_id,
                channel=channel,
                recipient=recipient.format(i),
                body=f"Hello {i}",
                sender_type="conversation",
                sender_id="support-1",
                status="sent",
                attempts=1,
                provider_message_id=f"pm-{account_id}-{i}-{at.timestamp()}",
                sent_at=at,
                delivery_next_check_at=at,
                meta={"source_ref": i},
            )
            for i in range(n)
        ]
        session.add_all(rows)
        session.flush()
        return [m.id for m in rows]


def report(message_id: int, status: str = "delivered", *, event: str | None = None, **kw: Any) -> DeliveryReport:
    success = {"delivered": True, "read": True, "failed": False, "undelivered": False, "bounce": False}.get(status)
    return DeliveryReport(
        provider="test", provider_event_id=event or f"{message_id}:{status}", status=status, success=success, **kw
    )


def add_report(services: Any, message_id: int, status: str = "delivered", **kw: Any) -> int | None:
    with services.db.write() as session:
        account_id = session.get(Message, message_id).account_id  # type: ignore[union-attr]
        return record_communication(session, account_id, message_id, report(message_id, status, **kw))


def message(services: Any, message_id: int) -> Message:
    with services.db.read() as session:
        row = session.get(Message, message_id)
        assert row is not None
        return row


def updated_events(services: Any) -> list[dict[str, Any]]:
    """Every `message.updated` event's message as readers of the log see it (a reference put back), oldest first."""
    with services.db.read() as session:
        events = session.scalars(select(Event).where(Event.type == "message.updated").order_by(Event.id)).all()
        views = refs.message_views(session, events)
        return [dict(envelope(e, views)["data"]["message"], _text=e.text, _level=e.level) for e in events]


def count(services: Any, sql: str) -> int:
    with services.db.read() as session:
        return int(session.scalar(text(sql)) or 0)


def events_total(services: Any) -> int:
    with services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def signed(secret: str, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", "X-Bulkmsg-Signature": signature(secret, raw)}


def add_sent_bulk(services: Any, n: int, *, final_every: int = 3) -> None:
    """`n` sent messages due now in one statement; all but each `final_every`-th get a final communication."""
    dialect = services.db.dialect
    numbers = (
        ("", "generate_series(1, :n) AS seq(i)")
        if dialect == "postgresql"
        else ("WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < :n) ", "seq")
    )
    false, true = ("false", "true") if dialect == "postgresql" else ("0", "1")
    at = utcnow() - timedelta(seconds=1)
    with services.db.write() as session:
        session.execute(
            text(
                f"{numbers[0]}INSERT INTO messages (account_id, channel, recipient, body, sender_type, sender_id, "
                "status, attempts, next_attempt_at, provider_message_id, delivery_expired, delivery_check_attempts, "
                "delivery_next_check_at, metadata, created_at, updated_at, sent_at) "
                f"SELECT 1, 'smtp', 'bulk' || i || '@example.org', 'Hello', 'campaign', '1', 'sent', 1, :at, "
                f"'pm-bulk-' || i, {false}, 0, :at, '{{}}', :at, :at, :at FROM {numbers[1]}"
            ).bindparams(bindparam("at", type_=UTCDateTime)),
            {"n": n, "at": at},
        )
        session.execute(
            text(
                "INSERT INTO communications (account_id, message_id, provider, provider_event_id, provider_status, "
                f"success, payload, received_at) SELECT account_id, id, 'test', 'bulk-' || id, 'delivered', {true}, "
                f"'{{}}', :at FROM messages WHERE id % {final_every} <> 0"
            ).bindparams(bindparam("at", type_=UTCDateTime)),
            {"at": at},
        )
