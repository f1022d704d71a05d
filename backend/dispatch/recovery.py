"""After a crash: sends whose worker is gone become `uncertain` (never re-sent automatically)."""

from __future__ import annotations

import logging
from typing import Any

from backend.dispatch.claims import expired_sends, mark_uncertain
from backend.store.models import utcnow

log = logging.getLogger(__name__)

LOST_SEND = "the app stopped while sending; the provider may or may not have it"


def recover_lost_sends(services: Any) -> int:
    """Mark every `sending` message whose lease expired (or whose process died) as `uncertain`."""
    now = utcnow()
    recovered = 0
    with services.db.write() as session:
        for message in expired_sends(session, now):
            if not mark_uncertain(session, message, now, LOST_SEND):
                continue
            recovered += 1
            key = "campaign_id" if message.sender_type == "campaign" else "conversation_id"
            sender = message.campaign_id if message.sender_type == "campaign" else message.sender_id
            services.hub.record(
                session,
                message.account_id,
                "send.progress",
                f"Not sure whether {message.recipient} got the message: {LOST_SEND}",
                level="warning",
                data={
                    key: sender,
                    "message_id": message.id,
                    "channel": message.channel,
                    "recipient": message.recipient,
                    "status": "uncertain",
                    "error": LOST_SEND,
                },
            )
    if recovered:
        log.warning("%d interrupted send(s) marked uncertain", recovered)
    return recovered
