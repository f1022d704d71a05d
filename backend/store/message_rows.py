"""The one way a `Message` row's columns are written: a campaign's rows, a conversation reply, a received message.

`message_row(...)` returns the columns of a new row (for `insert(Message)` or `Message(**row)`), with the counters,
flags and times every new row starts with, so no writer forgets one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backend.store import states


def message_row(
    *,
    account_id: int,
    channel: str,
    recipient: str,
    body: str,
    sender_type: states.SenderType,
    sender_id: str,
    now: datetime,
    status: str = states.QUEUED,
    direction: states.Direction = states.OUTBOUND,
    **columns: Any,
) -> dict[str, Any]:
    """A new row's columns: `columns` (recipient_name, contact_id, campaign_id, subject, meta, ...) over the
    defaults of a row that has not been tried yet (next attempt `now`)."""
    return {
        "account_id": account_id,
        "channel": channel,
        "direction": direction,
        "recipient": recipient,
        "body": body,
        "sender_type": sender_type,
        "sender_id": sender_id,
        "status": status,
        "attempts": 0,
        "next_attempt_at": now,
        "delivery_expired": False,
        "delivery_check_attempts": 0,
        "meta": {},
        "created_at": now,
        "updated_at": now,
        **columns,
    }
