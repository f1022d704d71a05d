"""What campaigns add to the dispatcher: the `DispatchHooks` protocol, and `NoHooks` for conversation messages.

The campaign side (`backend.campaigns.hooks.CampaignHooks`) implements it; the dispatcher, its pool and crash
recovery only call it. Recording results needs only its `ResultHooks` part (`backend.dispatch.outcomes`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from backend.channels.base import OutboundMessage
from backend.dispatch.claims import ClaimedMessage
from backend.dispatch.outcomes import Outcome, ResultHooks

IDLE_POLL_S = 1.0
MAX_BATCH = 64


class DispatchHooks(ResultHooks, Protocol):
    """What campaigns add to the dispatcher (pacing, counts, pausing); see NoHooks for the defaults.

    Pacing never holds back conversation messages (campaign_id NULL): they are claimed whenever due.
    """

    def seconds_until_next(self, account_id: int, channel: str) -> float:
        """Seconds until the channel's own pace lets any campaign message go (<= 0: now)."""
        ...

    def excluded_campaigns(self, account_id: int, channel: str) -> tuple[int, ...]:
        """Campaigns not to claim from right now (their own pace or daily cap holds them back)."""
        ...

    def idle_wait_s(self, account_id: int, channel: str) -> float:
        """When nothing could be claimed: how long until it is worth looking again (capped at 1 s)."""
        ...

    def batch_limit(self, account_id: int, channel: str) -> int:
        """How many messages the channel's pace lets be claimed at once (1 while a random pause applies)."""
        ...

    def start_gap_s(self, account_id: int, channel: str) -> float:
        """The channel's pace as the least time between the starts of two campaign messages (0: unpaced)."""
        ...

    def sequential(self, account_id: int, channel: str) -> bool:
        """Whether the channel's campaign messages go one at a time (a random pause after each: WhatsApp)."""
        ...

    def paced_campaigns(self, outstanding: dict[int, int]) -> set[int]:
        """Of these campaigns (with how many messages each has claimed and not recorded), those that may not be
        claimed from until those are recorded: a pace of their own (one message at a time, its pause after it),
        or a daily cap the outstanding messages use up."""
        ...

    def trim_batch(self, session: Session, claimed: list[ClaimedMessage]) -> list[ClaimedMessage]:
        """Of every claimed batch (one message too), those that may go now (a campaign with a random pause sends
        one, a rate as many as its tokens allow); the rest are given back. It may put a message back itself
        (outside its send window: `queued` with a later `next_attempt_at`, its attempt undone); the dispatcher's
        give-back then changes nothing for it."""
        ...

    def window_reopens(self, message: ClaimedMessage, outbound: OutboundMessage) -> datetime | None:
        """Asked by a send worker right before `message` goes out (no store access; the app's clock): None when
        it may go, else when its send window opens again (it closed while the message waited in the dispatcher):
        it is then not sent but put back in `queued` until that time, its attempt undone. May update
        `outbound.metadata` (SMS: its ValidityPeriod, counted from now)."""
        ...

    def outbound(self, session: Session, message: ClaimedMessage) -> OutboundMessage: ...


class NoHooks:
    """Conversation messages only: no pacing, position 1 of 1."""

    def seconds_until_next(self, account_id: int, channel: str) -> float:
        return 0.0

    def excluded_campaigns(self, account_id: int, channel: str) -> tuple[int, ...]:
        return ()

    def idle_wait_s(self, account_id: int, channel: str) -> float:
        return IDLE_POLL_S

    def batch_limit(self, account_id: int, channel: str) -> int:
        return MAX_BATCH

    def start_gap_s(self, account_id: int, channel: str) -> float:
        return 0.0

    def sequential(self, account_id: int, channel: str) -> bool:
        return False

    def paced_campaigns(self, outstanding: dict[int, int]) -> set[int]:
        return set()

    def trim_batch(self, session: Session, claimed: list[ClaimedMessage]) -> list[ClaimedMessage]:
        return claimed

    def window_reopens(self, message: ClaimedMessage, outbound: OutboundMessage) -> datetime | None:
        return None

    def outbound(self, session: Session, message: ClaimedMessage) -> OutboundMessage:
        return outbound_from_row(message)

    def after_outcomes(self, session: Session, results: list[tuple[ClaimedMessage, Outcome]]) -> list[dict[str, Any]]:
        return [{"current": 1, "total": 1} for _ in results]

    def after_events(self, session: Session) -> None:
        return None


def outbound_from_row(message: ClaimedMessage) -> OutboundMessage:
    return OutboundMessage(
        id=message.id,
        account_id=message.account_id,
        channel=message.channel,
        recipient=message.recipient,
        body=message.body,
        subject=message.subject,
        html_body=message.html_body,
        recipient_name=message.recipient_name,
        sender_type=message.sender_type,
        sender_id=message.sender_id,
        # A reply in an email thread carries In-Reply-To / References (backend/api/conversations.py).
        headers={str(k): str(v) for k, v in ((message.meta or {}).get("headers") or {}).items()},
        metadata=dict(message.meta or {}),
    )
