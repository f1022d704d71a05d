"""The inbox job: reads the SMTP channel's IMAP inbox every `inbox_poll_s` (30 s), and at once when IMAP IDLE
announces new mail (backend/conversations/inbox_idle.py) (DESIGN sections 9, 11 and 19).

`InboxReader.run_once(account_id=None)` reads, for each account whose SMTP channel has an inbox, the mails with a
UID above the account's cursor (`inbox_cursors`, per UIDVALIDITY), in batches. Each mail is parsed first, in
mail_worker's process with a time budget and outside any transaction (a helper thread fetches and parses the
next batch while this one is applied, so the two overlap); then the batch is applied and the cursor moved in
one write transaction (mailbox_apply.py says what a reply, an automatic reply and a delivery report do); when
one mail of a batch fails, the batch is applied again with each mail in a savepoint of its own. A mail that
cannot be parsed or applied is set aside: it stays in the folder, is logged with its UID and the reason, is
listed in the cursor's `set_aside` (the SMTP channel's inbox status says "1 mail could not be read"), and the
cursor moves on past it, so later mail is still read.
A mail applied once is never applied again: the cursor, and the unique provider ids behind it, see to that.
A read that fails (the server refuses, times out, rejects the login) is the inbox's outage, as InboxWatcher
keeps it for health and the SMTP channel, with the next poll as its next try; a read that succeeds ends it,
so an inbox without IDLE shows an outage just as one in IDLE does. The folder is opened read-only, so nothing
is marked seen. Every socket operation has the channel's timeout.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
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

BATCH = 20
#: a mail larger than this is read in part (its first bytes hold the headers and the text of a reply; the rest
#: is attachments), so one huge mail cannot fill the memory.
MAX_MAIL_BYTES = 1_000_000
#: mails read per account and run; the rest wait for the next run.
MAX_PER_RUN = 2000
#: set-aside mails listed per folder (the oldest drop off the list; the count in the status goes on).
MAX_SET_ASIDE = 100
Parsed = ParsedMail | Unreadable
COUNTS = ("read", "replies", "auto", "bounces", "unreadable")

bp = Blueprint("inbox", __name__)


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)


@bp.post("/api/trigger/inbox")
def trigger_inbox() -> Any:
    """Read the caller's inbox now; answers {"read", "replies", "auto", "bounces", "unreadable", "error"}."""
    reader = current_app.extensions["bulkmsg"].inbox
    return jsonify(reader.run_once(account_id=caller_account()))


@dataclass(frozen=True)
class _Batch:
    """What applying one batch of an account's mails needs besides the mails."""

    account: int
    settings: dict[str, Any]
    folder: str
    validity: int
    limits: SoftLimits


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
                    # An inbox read only by this poll (no IDLE) shows its outage too, until a read succeeds.
                    self.services.inbox_watcher.note_outage(account, exc.reason, self.services.config.inbox_poll_s)
                    continue
                self.services.inbox_watcher.note_reachable(account)
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
            for chunk, parsed in self._read_ahead(client, uids):
                batch = _Batch(account, settings, folder, validity, limits)
                try:  # each mail in a savepoint costs a quarter of the work: only when a mail needs it
                    counts = self._apply_batch(batch, chunk, parsed, savepoints=False)
                except Exception:  # one mail failed: the batch again, each mail alone (the bad one set aside)
                    log.info("a mail of account %s's inbox failed; its batch is applied mail by mail", account)
                    counts = self._apply_batch(batch, chunk, parsed, savepoints=True)
                for key, value in counts.items():
                    done[key] += value
        except (OSError, ValueError) as exc:
            raise SendError(f"the inbox connection failed: {' '.join(str(exc).split())[:160]}") from None
        except IMAPClientError as exc:  # a protocol error or abort: the run ends, the cursor keeps what was applied
            raise SendError(f"the inbox answered with an error: {' '.join(str(exc).split())[:160]}") from None
        finally:
            logout_quietly(client)
        if done["read"]:
            log.info("inbox of account %s: %s mails read", account, done["read"])
        return done

    def _apply_batch(
        self, batch: _Batch, chunk: list[int], parsed: list[tuple[int, Parsed]], *, savepoints: bool
    ) -> dict[str, int]:
        """Apply a batch and move the cursor past it in one write transaction; the counts it adds to. Without
        `savepoints` a mail that fails raises (and nothing of the batch is kept)."""
        counts = dict.fromkeys(COUNTS, 0)
        with self.services.db.write() as session:
            aside: list[dict[str, Any]] = []
            for uid, mail in parsed:
                ref = f"{batch.validity}:{uid}"
                if savepoints:
                    kind, reason = self._apply(session, batch.account, batch.settings, ref, mail, batch.limits)
                elif isinstance(mail, Unreadable):
                    kind, reason = self._set_aside(batch.account, ref, mail.reason)
                else:
                    kind = self._apply_parsed(session, batch.account, batch.settings, ref, mail, batch.limits)
                    reason = None
                counts["read"] += 1
                if reason is not None:
                    aside.append({"uid": uid, "reason": reason, "at": iso(utcnow())})
                if kind:
                    counts[kind] += 1
            self._save_cursor(session, batch.account, batch.folder, batch.validity, chunk[-1], aside)
        return counts

    def _read_ahead(self, client: Any, uids: list[int]) -> Iterator[tuple[list[int], list[tuple[int, Parsed]]]]:
        """Each BATCH of `uids` fetched and parsed (outside any transaction, each mail within its time budget:
        mail_worker.py), the next batch read by a helper thread while the caller applies this one, so the
        parse (in its own process) and the fetch overlap the store's writes. Only the helper uses `client`
        until this generator ends; its errors are raised here."""
        ahead: queue.Queue[Any] = queue.Queue(maxsize=1)
        stop = threading.Event()

        def hand_over(item: Any) -> bool:
            while not stop.is_set():
                try:
                    ahead.put(item, timeout=0.2)
                    return True
                except queue.Full:
                    continue
            return False

        def read() -> None:
            try:
                for start in range(0, len(uids), BATCH):
                    chunk = uids[start : start + BATCH]
                    fetched = self._fetch(client, chunk)
                    answers = iter(self.parser.parse_many([raw for _uid, raw in fetched if raw]))
                    parsed = [(uid, next(answers) if raw else Unreadable("it is empty")) for uid, raw in fetched]
                    if not hand_over((chunk, parsed)):
                        return
            except BaseException as exc:  # handed to the caller, which says what failed
                hand_over(exc)
                return
            hand_over(None)

        helper = threading.Thread(target=read, name="bulkmsg-inbox-read", daemon=True)
        helper.start()
        try:
            while (item := ahead.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            helper.join()

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
