"""Who a campaign did not send to, and why, in words (kept with the campaign: the monitor lists them and the
export carries them), so nobody is left out silently."""

from __future__ import annotations

from typing import Any

from backend.channels.families import ALL, FAMILY_WORDS
from backend.store.models import Contact, LeftOut

#: rows kept per campaign (the counts are always whole; past this the list says how many more there were).
MAX_KEPT = 100_000
OPTED_OUT = "opted_out"
NO_ADDRESS = "no_address"
_FAMILY_WORDS = {**FAMILY_WORDS, ALL: "everything"}
_WHY_WORDS = {
    "stop": "replied STOP",
    "unsubscribe": "used the unsubscribe link",
    "hard_bounce": "the address bounced",
    "bounce": "the address bounced",
    "by_hand": "set by hand",
    "provider": "the provider reported an opt-out",
}


def left_out_row(contact: Contact, family: str, kind: str, opted_out: bool) -> dict[str, Any]:
    """The row for a contact skipped by a campaign on a channel of `family` (`kind`: email or phone)."""
    address = contact.email if kind == "email" else contact.phone
    if opted_out:
        given = contact.opt_outs or {}
        which = family if family in given else ALL
        entry = given.get(which) or {}
        detail = f"opted out of {_FAMILY_WORDS.get(which, which)}"
        if isinstance(entry, dict) and entry.get("at"):
            detail += f" on {str(entry['at'])[:10]}"
        why = entry.get("why") if isinstance(entry, dict) else None
        if why:
            detail += f" ({_WHY_WORDS.get(str(why), str(why))})"
        reason = OPTED_OUT
    else:
        detail = "no email address" if kind == "email" else "no phone number"
        reason = NO_ADDRESS
    return {
        "contact_id": contact.id,
        "name": (contact.name or "")[:200],
        "address": address,
        "reason": reason,
        "detail": detail,
    }


def left_out_view(row: LeftOut) -> dict[str, Any]:
    return {
        "contact_id": row.contact_id,
        "name": row.name,
        "address": row.address,
        "reason": row.reason,
        "detail": row.detail,
    }
