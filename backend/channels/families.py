"""Channel families (DESIGN section 4): `sms`, `email` (smtp and gmail), `whatsapp`, or `all`; the channels'
titles; what "configured" means. The one home of these words for every layer.

A family is also a message's source (`source` of the conversations API and of message views). A contact's
`opt_outs` maps a family or `all` to {"at", "why"}; a message on a channel is blocked when its family or `all` is
present. Shared by campaign creation, the contacts, conversations and the inbound paths.
"""

from __future__ import annotations

from typing import Any

FAMILIES = ("sms", "email", "whatsapp")
ALL = "all"
CHANNELS_OF = {"sms": ("sms",), "email": ("smtp", "gmail"), "whatsapp": ("whatsapp",)}
FAMILY_OF = {channel: family for family, channels in CHANNELS_OF.items() for channel in channels}
#: the channels that send and receive email, in the order one is chosen when both are configured.
EMAIL_CHANNELS = CHANNELS_OF["email"]
#: a channel's name as the user reads it (the channel classes' `title`).
CHANNEL_TITLES = {"sms": "SMS", "whatsapp": "WhatsApp", "smtp": "SMTP", "gmail": "Gmail"}
#: a family in a sentence ("opted out of email").
FAMILY_WORDS = {"sms": "SMS", "email": "email", "whatsapp": "WhatsApp"}


def family_of(channel: str) -> str:
    """The opt-out family of a channel (`smtp` and `gmail` are `email`)."""
    return FAMILY_OF.get(channel, channel)


def is_opted_out(opt_outs: dict[str, Any] | None, family: str) -> bool:
    """Whether messages of `family` are blocked by these opt-outs."""
    given = opt_outs or {}
    return ALL in given or family in given


def is_configured(settings: dict[str, Any] | None) -> bool:
    """Whether a channel with these stored settings is configured (it has any)."""
    return bool(settings)
