"""Writing provider delivery logs (communications), whatever their source: webhook or provider poll.

A repeated provider event (same account + provider + provider_event_id) is stored once: the unique constraint decides,
so two processes receiving the same callback cannot both write it. Settling the message is the delivery-status
job's work (backend/jobs/delivery/status.py), nudged right after a webhook writes.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.channels.base import DeliveryReport
from backend.store.models import Communication, utcnow

log = logging.getLogger(__name__)


def record_communication(session: Session, account_id: int, message_id: int, report: DeliveryReport) -> int | None:
    """Insert the report as a communication; returns its id, or None when this event was already stored."""
    values: dict[str, Any] = dict(
        account_id=account_id,
        message_id=message_id,
        provider=report.provider,
        provider_event_id=report.provider_event_id[:255],
        provider_status=report.status[:40],
        success=report.success,
        error_code=(report.error_code or None) and str(report.error_code)[:40],
        error_text=report.error_text,
        payload=report.payload,
        received_at=report.occurred_at or utcnow(),
    )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (
        insert(Communication)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["account_id", "provider", "provider_event_id"])
        .returning(Communication.id)
    )
    return session.scalar(stmt)


def find_communication(
    session: Session, account_id: int, provider: str, provider_event_id: str
) -> Communication | None:
    return session.scalar(
        select(Communication).where(
            Communication.account_id == account_id,
            Communication.provider == provider,
            Communication.provider_event_id == provider_event_id,
        )
    )
