"""Channel families for opt-outs (DESIGN section 4): `sms`, `email` (smtp and gmail), `whatsapp`, or `all`.

A contact's `opt_outs` maps a family or `all` to {"at", "why"}; a message on a channel is blocked when its
family or `all` is present. Shared by campaign creation, the contacts and the inbound paths.
"""

from __future__ import annotations

from typing import Any

FAMILIES = ("sms", "email", "whatsapp")
ALL = "all"
CHANNELS_OF = {"sms": ("sms",), "email": ("smtp", "gmail"), "whatsapp": ("whatsapp",)}
FAMILY_OF = {channel: family for family, channels in CHANNELS_OF.items() for channel in channels}


def family_of(channel: str) -> str:
    """The opt-out family of a channel (`smtp` and `gmail` are `email`)."""
    return FAMILY_OF.get(channel, channel)


def is_opted_out(opt_outs: dict[str, Any] | None, family: str) -> bool:
    """Whether messages of `family` are blocked by these opt-outs."""
    given = opt_outs or {}
    return ALL in given or family in given
