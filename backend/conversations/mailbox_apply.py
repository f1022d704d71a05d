"""Applying one parsed mail to the store, in the inbox reader's write transaction (DESIGN sections 9, 11, 19).

- A reply (or an automatic reply) goes into its sender's thread. It is threaded to the contact of one of our
  messages (named by an authentic Message-ID in `In-Reply-To` / `References`) only when the sender is that
  contact's address; otherwise it is filed by its sender's address (`record_inbound`, which creates unknown
  senders). An automatic reply is stored marked `auto` with its reason, already read, with no opt-out keyword
  acted on; it is never counted as a reply.
- A delivery report acts only on an address we mailed in a message it names by an authentic Message-ID (that
  message's recipient); a report naming nobody we mailed changes nothing. A permanent failure settles the
  message (`delivered` false, the reason) and suppresses the address; a temporary one is noted on the message
  and suppresses the address only when it is the `soft_bounce_limit`-th (default 3) within `soft_bounce_days`
  (default 14) days. Each (report, message) is recorded once as a communication, so a report read again
  changes nothing.
Every change is written as the message's `metadata.bounce` {kind, status, reason, at} with a `message.updated`
event, which the thread shows in words.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.channels.base import DeliveryReport
from backend.channels.families import EMAIL_CHANNELS
from backend.communications import record_communication
from backend.contacts.provider_opt_outs import suppress_address
from backend.conversations.inbound import Inbound, record_inbound
from backend.conversations.mail_parse import ParsedMail, our_message_ref
from backend.dispatch import fallback
from backend.jobs.delivery.events import record_updated_events
from backend.store.models import Communication, Contact, Message, utcnow
from backend.views import iso

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

PROVIDER = "imap"
SOFT_STATUS = "soft_bounce"
SOFT_LIMIT = 3
SOFT_DAYS = 14


@dataclass(frozen=True)
class SoftLimits:
    count: int = SOFT_LIMIT
    days: int = SOFT_DAYS

    @classmethod
    def of(cls, account_settings: dict[str, Any]) -> SoftLimits:
        count = account_settings.get("soft_bounce_limit")
        days = account_settings.get("soft_bounce_days")
        return cls(
            int(count) if isinstance(count, int) else SOFT_LIMIT, int(days) if isinstance(days, int) else SOFT_DAYS
        )


def apply_reply(services: Services, session: Session, account: int, ref: str, mail: ParsedMail) -> bool:
    """Store a reply or automatic reply in its sender's thread; False when it was stored before."""
    assert mail.sender is not None
    contact_id = None
    meta: dict[str, Any] = {"imap": ref}
    ours = our_message_ref(mail.refers_to, services.keys.message_id_key)
    if ours is not None and ours[0] == account:
        original = session.get(Message, ours[1])
        if original is not None and original.account_id == account and original.contact_id is not None:
            contact = session.get(Contact, original.contact_id)
            if contact is not None and (contact.email or "").lower() == mail.sender:
                contact_id = contact.id
                meta["in_reply_to"] = original.id
    if mail.kind == "auto":
        meta["auto"] = True
        meta["auto_reason"] = mail.auto_reason
    if mail.full_text and mail.full_text != mail.text:
        meta["full_text"] = mail.full_text
    inbound = Inbound(
        account_id=account,
        channel="smtp",
        sender=mail.sender,
        body=mail.text or ("(automatic reply)" if mail.kind == "auto" else "(no text)"),
        provider_message_id=mail.message_id or f"imap:{ref}",
        subject=mail.subject or None,
        sender_name=mail.sender_name or None,
        contact_id=contact_id,
        meta=meta,
        auto=mail.kind == "auto",
    )
    return record_inbound(services.hub, session, inbound) is not None


def apply_bounce(
    services: Services, session: Session, account: int, ref: str, mail: ParsedMail, limits: SoftLimits
) -> bool:
    """Apply a delivery report to the messages it names; True when it changed anything."""
    key = services.keys.message_id_key
    acted = False
    for our_id in mail.our_ids:
        ours = our_message_ref([our_id], key)
        if ours is None or ours[0] != account:
            continue
        message = session.get(Message, ours[1])
        if message is None or message.account_id != account or message.channel not in EMAIL_CHANNELS:
            continue
        address = message.recipient.lower()
        if address in mail.permanent:
            acted = _failed(services, session, account, ref, mail, message, "permanent", limits) or acted
        elif address in mail.temporary:
            acted = _failed(services, session, account, ref, mail, message, "temporary", limits) or acted
    if not acted:
        log.info("a delivery report in account %s's inbox (%s) names nobody we mailed; nothing changed", account, ref)
    return acted


def _failed(
    services: Services,
    session: Session,
    account: int,
    ref: str,
    mail: ParsedMail,
    message: Message,
    kind: str,
    limits: SoftLimits,
) -> bool:
    permanent = kind == "permanent"
    report = DeliveryReport(
        provider=PROVIDER,
        provider_event_id=f"dsn:{mail.message_id or ref}:{message.id}",
        status="bounce" if permanent else SOFT_STATUS,
        success=False if permanent else None,
        error_code=mail.status,
        error_text=mail.reason,
        payload={"recipient": message.recipient.lower(), "status": mail.status, "kind": kind},
    )
    communication_id = record_communication(session, account, message.id, report)
    if communication_id is None:
        return False  # this report was applied before
    now = utcnow()
    meta = {
        **(message.meta or {}),
        "bounce": {"kind": kind, "status": mail.status, "reason": mail.reason, "at": iso(now)},
    }
    if permanent and message.delivered is not False:
        message.delivered = False
        message.delivery_expired = False
        message.delivered_at = None
        meta["communication_id"] = communication_id
    message.meta = meta
    message.updated_at = now
    session.flush()
    if permanent:
        fallback.primary_outcome(services, session, message.id, "hard_bounce")  # its standby message, once
    record_updated_events(session, services.hub, [message.id], now=now)
    if permanent or _soft_failures(session, account, message.recipient, limits) >= limits.count:
        suppress_address(services, session, account, message.recipient.lower(), message.contact_id)
    return True


def _soft_failures(session: Session, account: int, address: str, limits: SoftLimits) -> int:
    """Temporary failures of `address` reported within the last `limits.days` days (this one included)."""
    since = utcnow() - timedelta(days=limits.days)
    return int(
        session.scalar(
            select(func.count())
            .select_from(Communication)
            .join(Message, Message.id == Communication.message_id)
            .where(
                Communication.account_id == account,
                Communication.provider == PROVIDER,
                Communication.provider_status == SOFT_STATUS,
                Communication.received_at >= since,
                Message.account_id == account,
                func.lower(Message.recipient) == address.lower(),
            )
        )
        or 0
    )
