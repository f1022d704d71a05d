"""The inbox job: reads the SMTP channel's IMAP inbox every 30 s, and at once when IMAP IDLE announces new mail
(backend/conversations/inbox_idle.py) (DESIGN sections 9, 11 and 19).

`InboxReader.run_once(account_id=None)` reads, for each account whose SMTP channel has an inbox, the mails with a
UID above the account's cursor (`inbox_cursors`, per UIDVALIDITY), in batches. Each mail is parsed first, in
mail_worker's process with a time budget and outside any transaction; then the batch is applied and the cursor
moved in one write transaction, each mail in a savepoint of its own (mailbox_apply.py says what a reply, an
automatic reply and a delivery report do). A mail that cannot be parsed or applied is set aside: it stays in
the folder, is logged with its UID and the reason, is listed in the cursor's `set_aside` (the SMTP channel's
inbox status says "1 mail could not be read"), and the cursor moves on past it, so later mail is still read.
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

from backend.channels.base import SendError
from backend.channels.smtp.inbox import has_inbox, logout_quietly, open_inbox
from backend.conversations.mail_parse import ParsedMail, Unreadable
from backend.conversations.mail_worker import MailParser
from backend.conversations.mailbox_apply import SoftLimits, apply_bounce, apply_reply
from backend.security.guards import account_id as caller_account
from backend.store.models import Account, ChannelConfig, InboxCursor, utcnow
from backend.views import iso

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
#: set-aside mails listed per folder (the oldest drop off the list; the count in the status goes on).
MAX_SET_ASIDE = 100
COUNTS = ("read", "replies", "auto", "bounces", "unreadable")

bp = Blueprint("inbox", __name__)


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)


@bp.post("/api/trigger/inbox")
def trigger_inbox() -> Any:
    """Read the caller's inbox now; answers {"read", "replies", "auto", "bounces", "unreadable", "error"}."""
    reader = current_app.extensions["bulkmsg"].inbox
    return jsonify(reader.run_once(account_id=caller_account()))


class InboxReader:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()  # one read of the inboxes at a time in this process
        self.parser = MailParser()

    def run_once(self, account_id: int | None = None) -> dict[str, Any]:
        totals: dict[str, Any] = {k: 0 for k in COUNTS} | {"error": None}
        with self._lock:
            for account, settings in self._inboxes(account_id):
                try:
                    done = self._read_account(account, settings)
                except SendError as exc:
                    log.warning("reading the inbox of account %s failed: %s", account, exc.reason)
                    totals["error"] = exc.reason
                    continue
                for key in COUNTS:
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
        done = dict.fromkeys(COUNTS, 0)
        limits = self._limits(account)
        try:
            last = self._cursor(account, folder, validity)
            uids = sorted(u for u in client.search(["UID", f"{last + 1}:*"]) if u > last)[:MAX_PER_RUN]
            for start in range(0, len(uids), BATCH):
                chunk = uids[start : start + BATCH]
                # parsed outside the transaction, each within its time budget (mail_worker.py)
                parsed = [(uid, self.parser.parse(raw) if raw else Unreadable("it is empty")) for uid, raw in
                          self._fetch(client, chunk)]  # fmt: skip
                with self.services.db.write() as session:
                    aside: list[dict[str, Any]] = []
                    for uid, mail in parsed:
                        kind, reason = self._apply(session, account, settings, f"{validity}:{uid}", mail, limits)
                        done["read"] += 1
                        if reason is not None:
                            aside.append({"uid": uid, "reason": reason, "at": iso(utcnow())})
                        if kind:
                            done[kind] += 1
                    self._save_cursor(session, account, folder, validity, chunk[-1], aside)
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

    def _save_cursor(
        self, session: Session, account: int, folder: str, validity: int, uid: int, aside: list[dict[str, Any]]
    ) -> None:
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
                    set_aside=aside[-MAX_SET_ASIDE:],
                    updated_at=utcnow(),
                )
            )
            return
        if int(row.uid_validity) != validity or int(row.last_uid) < uid:
            row.uid_validity, row.last_uid = validity, uid
        if aside:
            row.set_aside = [*(row.set_aside or []), *aside][-MAX_SET_ASIDE:]

    # -- one mail ---------------------------------------------------------------------------------------

    def _apply(
        self,
        session: Session,
        account: int,
        settings: dict[str, Any],
        ref: str,
        mail: ParsedMail | Unreadable,
        limits: SoftLimits,
    ) -> tuple[str | None, str | None]:
        """Apply one mail in a savepoint: (the count it adds to, e.g. "replies", or None; the reason it was set
        aside, or None)."""
        if isinstance(mail, Unreadable):
            return self._set_aside(account, ref, mail.reason)
        try:
            with session.begin_nested():
                return self._apply_parsed(session, account, settings, ref, mail, limits), None
        except Exception as exc:  # this mail only: the savepoint undid its part, the batch goes on
            log.warning("mail %s of account %s's inbox could not be applied", ref, account, exc_info=True)
            return self._set_aside(account, ref, f"it could not be stored ({type(exc).__name__})")

    def _apply_parsed(
        self, session: Session, account: int, settings: dict[str, Any], ref: str, mail: ParsedMail, limits: SoftLimits
    ) -> str | None:
        if mail.kind == "bounce":
            return "bounces" if apply_bounce(self.services, session, account, ref, mail, limits) else None
        if mail.sender is None or mail.sender == str(settings.get("from_address") or "").lower():
            return None  # our own mail (a copy, a loop): not a reply
        stored = apply_reply(self.services, session, account, ref, mail)
        return ("auto" if mail.kind == "auto" else "replies") if stored else None

    def _set_aside(self, account: int, ref: str, reason: str) -> tuple[str, str]:
        log.warning("mail UID %s of account %s's inbox could not be read and is set aside: %s", ref, account, reason)
        return "unreadable", reason

    def _limits(self, account: int) -> SoftLimits:
        with self.services.db.read() as session:
            row = session.get(Account, account)
            return SoftLimits.of(dict(row.settings or {}) if row is not None else {})
