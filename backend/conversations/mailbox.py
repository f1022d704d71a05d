"""The inbox job: reads the SMTP channel's IMAP inbox every 30 s, and at once when IMAP IDLE announces new mail
(backend/conversations/inbox_idle.py) (DESIGN section 9, issue 15 item 4).

`InboxReader.run_once(account_id=None)` reads, for each account whose SMTP channel has an inbox, the mails with a
UID above the account's cursor (`inbox_cursors`, per UIDVALIDITY), in batches; each batch is applied and the
cursor moved in one write transaction, after the fetch (no transaction is held across the network):
- a reply goes into its sender's thread: threaded by `In-Reply-To` / `References` to one of our Message-IDs (the
  contact of that message), else by the sender's address (`record_inbound`, which creates unknown senders);
- a delivery report (RFC 3464) is written as a communication of the original message (found by the Message-ID
  in the report, else the latest email to that recipient) and, when it failed, settles it: `delivered` false
  with the reason, `message.updated` pushed; a hard bounce (5.x.x) opts the address out of email (hard_bounce).
A mail applied once is never applied again: the cursor, and the unique provider ids behind it, see to that.
The folder is opened read-only, so nothing is marked seen. Every socket operation has the channel's timeout.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app, jsonify
from imapclient.exceptions import IMAPClientError
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.channels.base import DeliveryReport, SendError
from backend.channels.smtp_inbox import has_inbox, logout_quietly, open_inbox
from backend.communications import record_communication
from backend.contacts.provider_opt_outs import suppress_address
from backend.conversations.inbound import Inbound, record_inbound
from backend.conversations.inbox_idle import InboxWatcher
from backend.conversations.mail_parse import Bounce, Reply, our_message_ref, read_mail
from backend.errors import not_found
from backend.jobs.delivery_events import record_updated_events
from backend.jobs.schedule import Job
from backend.security.guards import account_id as caller_account
from backend.store.models import ChannelConfig, InboxCursor, Message, utcnow

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

POLL_S = 30.0
BATCH = 20
#: a mail larger than this is read in part (its first bytes hold the headers and the text of a reply; the rest
#: is attachments), so one huge mail cannot fill the memory.
MAX_MAIL_BYTES = 1_000_000
#: mails read per account and run; the rest wait for the next run.
MAX_PER_RUN = 2000
PROVIDER = "imap"
EMAIL_CHANNELS = ("smtp", "gmail")

bp = Blueprint("inbox", __name__)


def install(app: Flask, services: Services) -> None:
    reader = InboxReader(services)
    services.inbox = reader
    services.jobs.append(Job("inbox", reader.run_once, POLL_S))
    # IMAP IDLE brings a reply in within seconds; the poll above is the safety net (inbox_idle.py).
    watcher = InboxWatcher(services, reader)
    services.inbox_watcher = watcher
    services.on_start.append(watcher.start)
    services.on_stop.append(watcher.stop)
    app.register_blueprint(bp)


@bp.post("/api/trigger/inbox")
def trigger_inbox() -> Any:
    """Read the caller's inbox now; answers {"read", "replies", "bounces", "error"}."""
    reader = current_app.extensions["bulkmsg"].inbox
    if reader is None:
        raise not_found("The inbox reader")
    return jsonify(reader.run_once(account_id=caller_account()))


class InboxReader:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()  # one read of the inboxes at a time in this process

    def run_once(self, account_id: int | None = None) -> dict[str, Any]:
        totals: dict[str, Any] = {"read": 0, "replies": 0, "bounces": 0, "error": None}
        with self._lock:
            for account, settings in self._inboxes(account_id):
                try:
                    done = self._read_account(account, settings)
                except SendError as exc:
                    log.warning("reading the inbox of account %s failed: %s", account, exc.reason)
                    totals["error"] = exc.reason
                    continue
                for key in ("read", "replies", "bounces"):
                    totals[key] += done[key]
        return totals

    def _inboxes(self, only: int | None) -> list[tuple[int, dict[str, Any]]]:
        with self.services.db.read() as session:
            query = select(ChannelConfig.account_id, ChannelConfig.settings).where(ChannelConfig.channel == "smtp")
            if only is not None:
                query = query.where(ChannelConfig.account_id == only)
            return [(int(a), dict(s)) for a, s in session.execute(query).all() if s and has_inbox(s)]

    def _read_account(self, account: int, settings: dict[str, Any]) -> dict[str, int]:
        with self.services.db.read() as session:
            secrets = self.services.secrets.load(session, account, "smtp")
        folder = str(settings.get("imap_folder") or "INBOX")
        timeout = float(settings.get("timeout_s") or 30.0)
        client, validity = open_inbox(settings, secrets, timeout, settings.get("verify_tls") is not False)
        done = {"read": 0, "replies": 0, "bounces": 0}
        try:
            last = self._cursor(account, folder, validity)
            uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)[:MAX_PER_RUN]
            for start in range(0, len(uids), BATCH):
                chunk = uids[start : start + BATCH]
                mails = self._fetch(client, chunk)
                with self.services.db.write() as session:
                    for uid, raw in mails:
                        kind = self._apply(session, account, settings, f"{validity}:{uid}", raw)
                        done["read"] += 1
                        if kind:
                            done[kind] += 1
                    self._save_cursor(session, account, folder, validity, chunk[-1])
        except (OSError, ValueError) as exc:
            raise SendError(f"the inbox connection failed: {' '.join(str(exc).split())[:160]}") from None
        except IMAPClientError as exc:  # a protocol error or abort: the run ends, the cursor keeps what was applied
            raise SendError(f"the inbox answered with an error: {' '.join(str(exc).split())[:160]}") from None
        finally:
            logout_quietly(client)
        if done["read"]:
            log.info("inbox of account %s: %s mails read", account, done["read"])
        return done

    def _fetch(self, client: Any, uids: list[int]) -> list[tuple[int, bytes]]:
        """Each mail's bytes, at most MAX_MAIL_BYTES of each."""
        sizes = client.fetch(uids, ["RFC822.SIZE"])
        small = [u for u in uids if int(sizes.get(u, {}).get(b"RFC822.SIZE") or 0) <= MAX_MAIL_BYTES]
        large = [u for u in uids if u not in set(small)]
        found: dict[int, bytes] = {}
        if small:
            for uid, data in client.fetch(small, ["BODY.PEEK[]"]).items():
                found[uid] = data.get(b"BODY[]") or b""
        if large:
            for uid, data in client.fetch(large, [f"BODY.PEEK[]<0.{MAX_MAIL_BYTES}>"]).items():
                found[uid] = data.get(b"BODY[]<0>") or b""
        return [(uid, found.get(uid, b"")) for uid in uids]

    # -- cursor -----------------------------------------------------------------------------------------

    def _cursor(self, account: int, folder: str, validity: int) -> int:
        with self.services.db.read() as session:
            row = session.scalar(
                select(InboxCursor).where(
                    InboxCursor.account_id == account, InboxCursor.channel == "smtp", InboxCursor.folder == folder
                )
            )
            # A new UIDVALIDITY renumbers the folder: read it again (provider ids keep repeats out).
            return int(row.last_uid) if row is not None and int(row.uid_validity) == validity else 0

    def _save_cursor(self, session: Session, account: int, folder: str, validity: int, uid: int) -> None:
        row = session.scalar(
            select(InboxCursor).where(
                InboxCursor.account_id == account, InboxCursor.channel == "smtp", InboxCursor.folder == folder
            )
        )
        if row is None:
            session.add(
                InboxCursor(
                    account_id=account,
                    channel="smtp",
                    folder=folder,
                    uid_validity=validity,
                    last_uid=uid,
                    updated_at=utcnow(),
                )
            )
        elif int(row.uid_validity) != validity or int(row.last_uid) < uid:
            row.uid_validity, row.last_uid = validity, uid

    # -- one mail ---------------------------------------------------------------------------------------

    def _apply(self, session: Session, account: int, settings: dict[str, Any], ref: str, raw: bytes) -> str | None:
        mail = read_mail(raw) if raw else None
        if isinstance(mail, Bounce):
            return "bounces" if self._bounce(session, account, ref, mail) else None
        if isinstance(mail, Reply):
            if mail.sender == str(settings.get("from_address") or "").lower():
                return None  # our own mail (a copy, a loop): not a reply
            return "replies" if self._reply(session, account, ref, mail) else None
        return None

    def _reply(self, session: Session, account: int, ref: str, mail: Reply) -> bool:
        contact_id = None
        ours = our_message_ref(mail.refers_to)
        meta: dict[str, Any] = {"imap": ref}
        if ours is not None and ours[0] == account:
            original = session.get(Message, ours[1])
            if original is not None and original.account_id == account:
                contact_id = original.contact_id
                meta["in_reply_to"] = original.id
        inbound = Inbound(
            account_id=account,
            channel="smtp",
            sender=mail.sender,
            body=mail.text or "(no text)",
            provider_message_id=mail.message_id or f"imap:{ref}",
            subject=mail.subject or None,
            sender_name=mail.sender_name or None,
            contact_id=contact_id,
            meta=meta,
        )
        return record_inbound(self.services, session, inbound) is not None

    def _bounce(self, session: Session, account: int, ref: str, bounce: Bounce) -> bool:
        message = self._original(session, account, bounce)
        if message is None:
            log.info("a delivery report in account %s's inbox matches no message we sent", account)
            return False
        failed = bounce.action == "failed"
        report = DeliveryReport(
            provider=PROVIDER,
            provider_event_id=f"dsn:{bounce.message_id or ref}:{message.id}",
            status="bounce" if failed else bounce.action,
            success=False if failed else None,
            error_code=bounce.status,
            error_text=bounce.reason,
            payload={"recipient": bounce.recipient, "status": bounce.status, "action": bounce.action},
        )
        communication_id = record_communication(session, account, message.id, report)
        if communication_id is None:
            return False  # this report was applied before
        if failed and message.delivered is not False:
            message.delivered = False
            message.delivery_expired = False
            message.delivered_at = None
            message.meta = {**(message.meta or {}), "communication_id": communication_id}
            message.updated_at = utcnow()
            session.flush()
            record_updated_events(session, self.services.hub, [message.id], now=utcnow())
        if failed and bounce.hard:
            self._suppress(session, account, message, bounce.recipient or message.recipient)
        return True

    def _original(self, session: Session, account: int, bounce: Bounce) -> Message | None:
        ours = our_message_ref([bounce.original_message_id] if bounce.original_message_id else [])
        if ours is not None and ours[0] == account:
            message = session.get(Message, ours[1])
            if message is not None and message.account_id == account:
                return message
        if not bounce.recipient:
            return None
        return session.scalar(
            select(Message)
            .where(
                Message.account_id == account,
                Message.channel.in_(EMAIL_CHANNELS),
                Message.direction == "out",
                Message.recipient == bounce.recipient,
                Message.status == "sent",
            )
            .order_by(Message.id.desc())
            .limit(1)
        )

    def _suppress(self, session: Session, account: int, message: Message, address: str) -> None:
        suppress_address(self.services, session, account, address, message.contact_id)
