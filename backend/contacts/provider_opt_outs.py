"""Opt-outs a provider tells us about: Twilio 21610 on a send (the recipient replied STOP to our number), a
mail server refusing a recipient with a 5.1.x status while sending, and hard bounces (an RFC 3464 report in the
inbox, a SendGrid `bounce` or `dropped` event) that suppress an address.

`apply_provider_opt_outs(services, session, items)` opts each message's contact (or the account's contact with
that address, for a message sent without one) out of the family (why `hard_bounce` for email, `stop`
otherwise), in the caller's transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.contacts import optouts
from backend.store.models import Contact

if TYPE_CHECKING:
    from backend.services import Services


def apply_provider_opt_outs(
    services: Services, session: Session, items: list[tuple[int, int | None, str, str, str]]
) -> None:
    """items: (account id, contact id or None, channel, recipient address, family)."""
    for account_id, contact_id, channel, recipient, family in items:
        contact = session.get(Contact, contact_id) if contact_id is not None else None
        if contact is None:
            column = Contact.email if optouts.family_of(channel) == "email" else Contact.phone
            contact = session.scalar(select(Contact).where(Contact.account_id == account_id, column == recipient))
        if contact is not None and contact.account_id == account_id:
            optouts.opt_out(services.hub, session, contact, family, "hard_bounce" if family == "email" else "stop")


def suppress_address(services: Services, session: Session, account: int, address: str, contact_id: int | None) -> bool:
    """A hard bounce: the contact with this email (or the message's contact) is opted out of email."""
    contact = session.get(Contact, contact_id) if contact_id is not None else None
    if contact is None or contact.account_id != account or (contact.email or "").lower() != address.lower():
        contact = session.scalar(select(Contact).where(Contact.account_id == account, Contact.email == address.lower()))
    if contact is None:
        return False
    optouts.opt_out(services.hub, session, contact, "email", "hard_bounce")
    return True
