"""Opt-outs per contact and channel family (DESIGN sections 4 and 9).

A contact's `opt_outs` maps a family (`sms`, `email`, `whatsapp`) or `all` to {"at": ISO time, "why": ...}
where why is `stop` (a STOP reply), `unsubscribe` (the link or a mailto unsubscribe), `hard_bounce` or
`by_hand`. A message on a channel is blocked when its family or `all` is present.

`opt_out(hub, session, contact, family, why)` records the opt-out, cancels the contact's queued campaign
messages on that family's channels (the campaigns' counters follow) and writes a `contact.opted_out` event, all
in the caller's transaction. `opt_in(...)` removes the family; opting back in to one family while opted out of
`all` keeps the others opted out.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from backend.campaigns import lifecycle
from backend.channels.families import ALL, CHANNELS_OF, FAMILIES, FAMILY_WORDS, family_of, is_opted_out
from backend.events.hub import EventHub
from backend.store.models import Campaign, Contact, Message, utcnow
from backend.views import iso

__all__ = ["ALL", "FAMILIES", "family_of", "is_opted_out", "opt_in", "opt_out", "opt_outs_view"]

REASONS = ("stop", "unsubscribe", "hard_bounce", "by_hand")
FAMILY_TITLES = {**FAMILY_WORDS, ALL: "every channel"}


def opt_outs_view(contact: Contact) -> dict[str, dict[str, Any] | None]:
    """Every family and `all`, each {"at", "why"} or None (the API's `opt_outs`)."""
    given = contact.opt_outs or {}
    return {family: given.get(family) for family in (*FAMILIES, ALL)}


def check_family(value: Any) -> str | None:
    """`value` when it names a family or `all`, else None."""
    return value if isinstance(value, str) and value in (*FAMILIES, ALL) else None


def opt_out(hub: EventHub, session: Session, contact: Contact, family: str = ALL, why: str = "by_hand") -> int:
    """Opt the contact out of `family`; returns how many queued campaign messages were cancelled."""
    given = dict(contact.opt_outs or {})
    changed = family not in given
    if changed:
        given[family] = {"at": iso(utcnow()), "why": why}
        contact.opt_outs = given
    channels = None if family == ALL else CHANNELS_OF[family]
    cancelled = _cancel_queued(session, contact, channels)
    if changed or cancelled:
        who = contact.name or contact.email or contact.phone
        where = "" if family == ALL else f" of {FAMILY_TITLES[family]}"
        hub.record(
            session,
            contact.account_id,
            "contact.opted_out",
            f"{who} opted out{where}",
            data={"contact_id": contact.id, "family": family, "why": why, "cancelled_messages": cancelled},
        )
    return cancelled


def opt_in(hub: EventHub, session: Session, contact: Contact, family: str = ALL) -> bool:
    """Opt the contact back in to `family` (all of them for `all`); returns whether anything changed."""
    given = dict(contact.opt_outs or {})
    if family == ALL:
        changed = bool(given)
        given = {}
    else:
        changed = family in given or ALL in given
        everything = given.pop(ALL, None)
        given.pop(family, None)
        if everything is not None:  # still out of the other families, as before
            for other in FAMILIES:
                if other != family:
                    given.setdefault(other, everything)
    if changed:
        contact.opt_outs = given
        who = contact.name or contact.email or contact.phone
        hub.record(
            session,
            contact.account_id,
            "contact.opted_in",
            f"{who} opted back in to {FAMILY_TITLES[family]}",
            data={"contact_id": contact.id, "family": family},
        )
    return changed


def _cancel_queued(session: Session, contact: Contact, channels: tuple[str, ...] | None) -> int:
    conditions = [
        Message.account_id == contact.account_id,
        Message.contact_id == contact.id,
        Message.campaign_id.is_not(None),
        Message.status == "queued",
    ]
    if channels is not None:
        conditions.append(Message.channel.in_(channels))
    cancelled = (
        session.execute(
            update(Message)
            .where(*conditions)
            .values(status="cancelled", last_error="the contact opted out", updated_at=utcnow())
            .returning(Message.campaign_id)
            .execution_options(synchronize_session=False)
        )
        .scalars()
        .all()
    )
    for campaign_id in set(cancelled):
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None:
            lifecycle.reconcile(session, campaign)
    return len(cancelled)
