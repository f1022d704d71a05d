"""After a crash: sends whose worker is gone become `uncertain` (never re-sent automatically)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import update

from backend.dispatch.claims import expired_sends, mark_uncertain
from backend.store.models import Campaign, utcnow

log = logging.getLogger(__name__)

LOST_SEND = "the app stopped while sending; the provider may or may not have it"


def recover_lost_sends(services: Any) -> int:
    """Mark every `sending` message whose lease expired (or whose process died) as `uncertain`.

    A campaign message also counts in its campaign's `uncertain_count`, in the same transaction.
    """
    now = utcnow()
    recovered = 0
    with services.db.write() as session:
        for message in expired_sends(session, now):
            if not mark_uncertain(session, message, now, LOST_SEND):
                continue
            recovered += 1
            if message.campaign_id is not None:
                session.execute(
                    update(Campaign)
                    .where(Campaign.id == message.campaign_id)
                    .values(uncertain_count=Campaign.uncertain_count + 1)
                    .execution_options(synchronize_session=False)
                )
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
