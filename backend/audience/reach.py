"""`contacts.reach`: who can reach a contact, as bits the database keeps (migration 0023_scale's triggers).

A segment's count needs, for every matched contact, whether it has a phone and an email address and which
channel families it opted out of. Read from the contact's JSON that is a full scan of the widest table; read from
`reach` through the index (account_id, reach) it is a GROUP BY over a narrow index, and the figures are summed
here from at most 64 groups. The filter's `opted_out.*` and `has.*` leaves test the same bits.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import ColumnElement, Table

from backend.channels.families import ALL, FAMILIES
from backend.store.models import Contact

C = cast(Table, Contact.__table__).c

HAS = {"phone": 1, "email": 2}
OPTED = {"sms": 4, "email": 8, "whatsapp": 16, ALL: 32}
#: which address each family sends to.
ADDRESS = {"sms": "phone", "whatsapp": "phone", "email": "email"}


def bits_set(mask: int) -> ColumnElement[bool]:
    """Any of `mask`'s bits is set in the contact's reach."""
    return C.reach.op("&")(mask) != 0


def opted_out(family: str) -> ColumnElement[bool]:
    """Opted out of `family` (`any`: of at least one family, or of everything)."""
    families = (*FAMILIES, ALL) if family == "any" else (family, ALL)
    return bits_set(sum(OPTED[f] for f in families))


def has(column: str) -> ColumnElement[bool]:
    return bits_set(HAS[column])


def summary(groups: Iterable[tuple[int, int]]) -> dict[str, Any]:
    """The count's figures from (reach, how many) pairs: total, per family opted out and without an address
    (not opted out), opted out of every channel, and with neither phone nor email."""
    total = opted_everywhere = no_address = 0
    by_channel = {f: {"opted_out": 0, "no_address": 0} for f in FAMILIES}
    for reach, n in groups:
        total += n
        opted = {f: bool(reach & (OPTED[f] | OPTED[ALL])) for f in FAMILIES}
        for f in FAMILIES:
            if opted[f]:
                by_channel[f]["opted_out"] += n
            elif not reach & HAS[ADDRESS[f]]:
                by_channel[f]["no_address"] += n
        if reach & OPTED[ALL] or all(opted.values()):
            opted_everywhere += n
        if not reach & (HAS["phone"] | HAS["email"]):
            no_address += n
    return {"total": total, "by_channel": by_channel, "opted_out": opted_everywhere, "no_address": no_address}
