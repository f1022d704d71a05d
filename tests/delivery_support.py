"""Helpers for the delivery-status tests: sent messages, provider reports, a settable clock, signed webhooks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from backend.channels.base import DeliveryReport
from backend.communications import record_communication
from backend.store.models import Event, Message, utcnow
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
    """Every `message.updated` event's message, oldest first."""
    with services.db.read() as session:
        events = session.scalars(select(Event).where(Event.type == "message.updated").order_by(Event.id)).all()
        return [dict(e.data["message"], _text=e.text, _level=e.level) for e in events]


def count(services: Any, sql: str) -> int:
    with services.db.read() as session:
        return int(session.scalar(text(sql)) or 0)


def events_total(services: Any) -> int:
    with services.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def signed(secret: str, body: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", "X-Bulkmsg-Signature": signature(secret, raw)}
