"""The state words of messages, campaigns, channels and delivery (DESIGN sections 5, 6 and 7), defined once.

Each set is a `Literal` type (so mypy checks every word a function is given) and a tuple of its values; the
words a module writes or compares are the constants below (`states.QUEUED`, not "queued"). They are the words
stored in the database and sent to the browser: changing one is a migration and a contract change.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: a message: queued -> sending -> sent | failed; a lost answer -> uncertain; cancelled before it was claimed.
MessageStatus = Literal["queued", "sending", "sent", "failed", "uncertain", "cancelled"]
QUEUED: Final = "queued"
SENDING: Final = "sending"
SENT: Final = "sent"
FAILED: Final = "failed"
UNCERTAIN: Final = "uncertain"
#: a message or a campaign.
CANCELLED: Final = "cancelled"
MESSAGE_STATUSES: Final[tuple[MessageStatus, ...]] = get_args(MessageStatus)
#: a message that will not be tried again by itself.
DONE_STATUSES: Final[tuple[MessageStatus, ...]] = (SENT, FAILED, UNCERTAIN)
#: a message that is still to go out (a campaign with one is not complete).
UNFINISHED_STATUSES: Final[tuple[MessageStatus, ...]] = (QUEUED, SENDING)

#: a campaign: draft -> scheduled -> running <-> paused -> completed; cancelled from any but completed.
CampaignStatus = Literal["draft", "scheduled", "running", "paused", "completed", "cancelled"]
DRAFT: Final = "draft"
SCHEDULED: Final = "scheduled"
RUNNING: Final = "running"
PAUSED: Final = "paused"
COMPLETED: Final = "completed"
CAMPAIGN_STATUSES: Final[tuple[CampaignStatus, ...]] = get_args(CampaignStatus)

#: a channel of an account (`channel.status` events, `GET /api/channels`).
ChannelState = Literal[
    "not_configured",
    "disconnected",
    "initializing",
    "qr",
    "authenticated",
    "ready",
    "auth_failure",
    "conflict",
    "error",
]
CHANNEL_STATES: Final[tuple[ChannelState, ...]] = get_args(ChannelState)
NOT_CONFIGURED: Final = "not_configured"
DISCONNECTED: Final = "disconnected"
READY: Final = "ready"
AUTHENTICATED: Final = "authenticated"
AUTH_FAILURE: Final = "auth_failure"
#: WhatsApp Web is open in another window (Connect takes it back with the page's "Use here").
CONFLICT: Final = "conflict"
ERROR: Final = "error"

#: what became of a sent message after the provider took it (`delivery` of `GET /api/messages/<id>`).
DeliveryState = Literal["pending", "delivered", "undelivered", "expired", "untracked"]
DELIVERY_STATES: Final[tuple[DeliveryState, ...]] = get_args(DeliveryState)

#: an inbound message's status: it was received, never queued (it is not one of MESSAGE_STATUSES).
RECEIVED: Final = "received"
#: who filed a message (`Message.sender_type`; `sender_id` names which): a campaign (its id), a campaign's
#: fallback step (the campaign's id), a conversation (its thread id, `contact-<id>` or any other id).
SenderType = Literal["campaign", "fallback", "conversation"]
CAMPAIGN: Final = "campaign"
FALLBACK: Final = "fallback"
CONVERSATION: Final = "conversation"
#: which way a message goes (`Message.direction`).
Direction = Literal["in", "out"]
INBOUND: Final = "in"
OUTBOUND: Final = "out"

_CONTACT_THREAD = "contact-"


def thread_of_contact(contact_id: int) -> str:
    """The conversation id of a contact's thread: `contact-<id>`."""
    return f"{_CONTACT_THREAD}{contact_id}"


def contact_of_thread(conversation_id: str) -> int | None:
    """The contact id a `contact-<id>` conversation id names, None for any other id."""
    digits = conversation_id.removeprefix(_CONTACT_THREAD)
    if digits == conversation_id or not digits.isascii() or not digits.isdigit() or digits[0] == "0":
        return None
    return int(digits) if len(digits) < 19 else None
