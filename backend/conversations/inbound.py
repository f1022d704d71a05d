"""Writing a received message into its sender's conversation, whatever the source (DESIGN sections 8 and 9).

`record_inbound(hub, session, inbound)` is the one place an inbound message reaches the store, for every
source (the Twilio webhook, the IMAP inbox reader, the WhatsApp channel):
- the sender is found among the account's contacts by phone (sms, whatsapp) or email (smtp, gmail), or created
  (a name given by the source is kept); a caller that already knows the contact (a mail threaded to one of our
  messages) passes `contact_id`;
- the message is stored with `direction` `in`, status `received`, `recipient` the sender, in the conversation
  `contact-<id>`; a provider id already stored for this account and channel writes nothing (returns None), so a
  repeated webhook or a re-read mail is applied once;
- opt-out keywords alone in the text act at once: SMS `STOP` `STOPALL` `UNSUBSCRIBE` `CANCEL` `END` `QUIT` opt
  out of sms and `START` `YES` `UNSTOP` opt back in; WhatsApp `STOP` / `START` the same for whatsapp; an email
  whose subject is `unsubscribe` (our List-Unsubscribe mailto) opts out of email; it acts on the contact the
  message is filed under, which for email is always its real sender (mailbox_apply.py); an automatic reply
  (`auto`) is stored already read and acts on no keyword;
- a `message.created` event {message, conversation_id} is written in the same transaction (pushed to `/ws` after
  commit).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from backend.addresses import email_or_none, phone_or_none
from backend.channels.families import EMAIL_CHANNELS
from backend.contacts import optouts
from backend.conversations.created import record_created
from backend.events.hub import EventHub
from backend.store import states
from backend.store.derived import derived
from backend.store.message_rows import message_row
from backend.store.models import Contact, Message, utcnow

SMS_STOP = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
SMS_START = frozenset({"START", "YES", "UNSTOP"})
WHATSAPP_STOP = frozenset({"STOP"})
WHATSAPP_START = frozenset({"START"})
MAX_BODY = 100_000


@dataclass(frozen=True)
class Media:
    """An attachment kept as a link (MMS media)."""

    url: str
    content_type: str


@dataclass(frozen=True)
class Inbound:
    """One received message as its source reads it."""

    account_id: int
    channel: str  # sms | smtp | gmail | whatsapp
    sender: str  # E.164 phone, or an email address (lower-case)
    body: str
    provider_message_id: str
    subject: str | None = None
    sender_name: str | None = None
    media: tuple[Media, ...] = ()
    received_at: datetime | None = None
    contact_id: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    #: an automatic reply (out of office...): stored already read, and no opt-out keyword in it is acted on.
    auto: bool = False


@dataclass(frozen=True)
class Recorded:
    message_id: int
    contact_id: int
    conversation_id: str
    view: dict[str, Any]
    opt_change: str | None  # "out" | "in" | None


def keyword_change(channel: str, body: str, subject: str | None) -> str | None:
    """`out`, `in` or None: what an inbound message alone says about the sender's opt-out of its family."""
    word = body.strip().upper()
    if channel == "sms":
        return "out" if word in SMS_STOP else "in" if word in SMS_START else None
    if channel == "whatsapp":
        return "out" if word in WHATSAPP_STOP else "in" if word in WHATSAPP_START else None
    if channel in EMAIL_CHANNELS and (subject or "").strip().lower() == "unsubscribe":
        return "out"
    return None


def record_inbound(hub: EventHub, session: Session, inbound: Inbound) -> Recorded | None:
    """Store `inbound` in its sender's conversation; None when this provider id was already stored (the unique
    index decides, in the insert itself)."""
    inbound = replace(inbound, sender=_address_of(inbound))
    contact = _contact_for(session, inbound)
    conversation_id = states.thread_of_contact(contact.id)
    message = _insert(session, inbound, contact, conversation_id)
    if message is None:  # another process stored it a moment ago
        return None
    who = contact.name or inbound.sender
    view = record_created(hub, session, message, f"Message from {who}", conversation_id)
    change = None if inbound.auto else keyword_change(inbound.channel, inbound.body, inbound.subject)
    family = optouts.family_of(inbound.channel)
    if change == "out":
        why = "unsubscribe" if family == "email" else "stop"
        optouts.opt_out(hub, session, contact, family, why)
    elif change == "in":
        optouts.opt_in(hub, session, contact, family)
    return Recorded(message.id, contact.id, conversation_id, view, change)


def _address_of(inbound: Inbound) -> str:
    """The sender as the contacts and the reply route write it (backend.addresses); as given when it is not one
    they would take, so the message is still kept."""
    if inbound.channel in EMAIL_CHANNELS:
        return email_or_none(inbound.sender) or inbound.sender.lower()
    return phone_or_none(inbound.sender) or inbound.sender


def _insert(session: Session, inbound: Inbound, contact: Contact, conversation_id: str) -> Message | None:
    """The stored message, or None when its provider id is already stored for this account and channel."""
    now = utcnow()
    meta = dict(inbound.meta)
    if inbound.media:
        meta["media"] = [{"url": m.url, "content_type": m.content_type} for m in inbound.media]
    values = message_row(
        account_id=inbound.account_id,
        channel=inbound.channel,
        recipient=inbound.sender,
        body=inbound.body[:MAX_BODY],
        sender_type=states.CONVERSATION,
        sender_id=conversation_id,
        now=inbound.received_at or now,
        status=states.RECEIVED,
        direction=states.INBOUND,
        recipient_name=(contact.name or inbound.sender_name or None),
        contact_id=contact.id,
        subject=inbound.subject,
        provider_message_id=inbound.provider_message_id[:255],
        meta=meta,
        updated_at=now,
        read_at=now if inbound.auto else None,
    )
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    message_id = session.scalar(
        insert(Message)
        .values(**values)
        .on_conflict_do_nothing(
            index_elements=["account_id", "channel", "provider_message_id"],
            index_where=Message.direction == states.INBOUND,
        )
        .returning(Message.id)
    )
    return None if message_id is None else session.get(Message, message_id)


def _contact_for(session: Session, inbound: Inbound) -> Contact:
    """The sender's contact: the one named, the one with this address, or a new one."""
    if inbound.contact_id is not None:
        known = session.get(Contact, inbound.contact_id)
        if known is not None and known.account_id == inbound.account_id:
            return known
    by_email = inbound.channel in EMAIL_CHANNELS
    column = Contact.email if by_email else Contact.phone
    address = inbound.sender.lower() if by_email else inbound.sender
    found = session.scalar(select(Contact).where(Contact.account_id == inbound.account_id, column == address))
    if found is not None:
        return found
    now = utcnow()
    values: dict[str, Any] = dict(
        account_id=inbound.account_id,
        name=(inbound.sender_name or "")[:200],
        phone=None if by_email else address,
        email=address if by_email else None,
        fields={},
        opt_outs={},
        created_at=now,
        updated_at=now,
    )
    values.update(derived(values["name"], values["phone"], {}))  # what filters read (country, folded name)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Two senders' first messages can race (PostgreSQL, two processes): the unique address decides.
    session.execute(insert(Contact).values(**values).on_conflict_do_nothing())
    created = session.scalar(select(Contact).where(Contact.account_id == inbound.account_id, column == address))
    assert created is not None
    return created
