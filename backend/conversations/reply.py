"""Which channel a reply from a contact's thread goes out on (DESIGN section 9, issue 15 item 6).

`reply_route(session, account_id, contact)` -> `Route(source, channel, to)` or None:
1. the channel the contact last wrote on, when it is configured (to: the address they wrote from; for email the
   contact's own address: a mail filed in the thread never changes where replies go);
2. else a configured channel that is connected (`ready`) and for which the contact has an address, in the
   order sms, smtp, gmail, whatsapp;
3. else any configured channel for which the contact has an address.
A channel that is not configured is never chosen; None when no configured channel can reach the contact.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.channels.families import EMAIL_CHANNELS, FAMILY_OF, is_configured
from backend.store import states
from backend.store.models import ChannelConfig, Contact, Message

ORDER = ("sms", "smtp", "gmail", "whatsapp")


@dataclass(frozen=True)
class Route:
    source: str
    channel: str
    to: str


def configured_channels(session: Session, account_id: int) -> dict[str, str]:
    """{channel: state} of the account's configured channels."""
    rows = session.execute(
        select(ChannelConfig.channel, ChannelConfig.state, ChannelConfig.settings).where(
            ChannelConfig.account_id == account_id
        )
    ).all()
    return {channel: state for channel, state, settings in rows if is_configured(settings)}


def address_for(contact: Contact, channel: str) -> str | None:
    return contact.email if FAMILY_OF.get(channel) == "email" else contact.phone


def reply_route(session: Session, account_id: int, contact: Contact) -> Route | None:
    configured = configured_channels(session, account_id)
    last_in = session.execute(
        select(Message.channel, Message.recipient)
        .where(Message.contact_id == contact.id, Message.account_id == account_id, Message.direction == states.INBOUND)
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    if last_in is not None and last_in.channel in configured:
        email = FAMILY_OF.get(last_in.channel) == "email"
        to = (contact.email if email else None) or last_in.recipient
        return Route(FAMILY_OF[last_in.channel], last_in.channel, to)
    if last_in is not None and FAMILY_OF.get(last_in.channel) == "email":
        # They wrote by email to an inbox we no longer send from: answer by the other email channel.
        for channel in EMAIL_CHANNELS:
            if channel in configured:
                return Route("email", channel, contact.email or last_in.recipient)
    reachable = [c for c in ORDER if c in configured and address_for(contact, c)]
    ready = [c for c in reachable if configured[c] == "ready"]
    for channel in ready or reachable:
        to = address_for(contact, channel)
        if to:
            return Route(FAMILY_OF[channel], channel, to)
    return None
