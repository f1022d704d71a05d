"""IMAP IDLE on the SMTP channel's inbox, so a reply shows up seconds after it arrives (the 30-second poll of
`backend/conversations/mailbox.py` stays the safety net).

`InboxWatcher(services, reader)`: `start()` runs a supervisor thread that every SYNC_S looks at which accounts'
SMTP channels have an inbox and keeps one watcher thread per such account. A watcher logs in, reads what is new
(`reader.run_once(account)`), then waits in IDLE; when the server announces new mail (EXISTS) it leaves IDLE,
reads, and goes back. It renews IDLE every RENEW_S (servers drop an IDLE after 30 minutes), notices changed
settings within CHECK_S, and after a failure tries again with backoff (1 s doubling to 60 s). A server without
IDLE is left to the poll. `stop()` closes their connections, so every thread ends at once. Nothing here is
shared without the lock.

While an inbox cannot be read (the IMAP server refuses, times out, rejects the login), `outage(account)` says
why and when the next try is due (`InboxOutage`); `GET /api/health` and the SMTP channel show it. The first
successful login clears it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from imapclient.exceptions import IMAPClientError
from sqlalchemy import select

from backend.channels.base import SendError
from backend.channels.smtp.inbox import has_inbox, logout_quietly, open_inbox
from backend.store.models import ChannelConfig, utcnow

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

SYNC_S = 2.0
CHECK_S = 5.0
RENEW_S = 600.0
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class InboxOutage:
    """An inbox that cannot be read now: why, since when, and when the next try is due."""

    reason: str
    since: datetime
    retry_at: datetime

    def sentence(self, now: datetime | None = None) -> str:
        wait = max(1, round((self.retry_at - (now or utcnow())).total_seconds()))
        return f"the inbox (IMAP) cannot be read: {self.reason}; trying again in {wait} s"


class InboxWatcher:
    def __init__(self, services: Services, reader: Any) -> None:
        self.services = services
        self.reader = reader
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}
        self._idling: set[int] = set()
        self._clients: dict[int, Any] = {}
        self._supervisor: threading.Thread | None = None
        self._outages: dict[int, InboxOutage] = {}

    def start(self) -> None:
        self._stop.clear()
        self._supervisor = threading.Thread(target=self._supervise, name="inbox-idle", daemon=True)
        self._supervisor.start()

    def stop(self, _pause_campaigns: bool = False) -> None:
        self._stop.set()
        with self._lock:
            threads = [t for t in (self._supervisor, *self._threads.values()) if t is not None]
            clients = list(self._clients.values())
        for client in clients:  # a watcher waiting in IDLE wakes at once when its socket closes
            try:
                client.shutdown()
            except (IMAPClientError, OSError):
                pass
        deadline = time.monotonic() + CHECK_S + 2
        for thread in threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def outage(self, account_id: int) -> InboxOutage | None:
        """Why the account's inbox cannot be read now, or None while it can (or has no inbox)."""
        with self._lock:
            return self._outages.get(account_id)

    def outages(self) -> dict[int, InboxOutage]:
        with self._lock:
            return dict(self._outages)

    def _note_outage(self, account: int, reason: str, retry_in_s: float) -> None:
        now = utcnow()
        with self._lock:
            since = self._outages[account].since if account in self._outages else now
            self._outages[account] = InboxOutage(reason, since, now + timedelta(seconds=retry_in_s))

    def _note_reachable(self, account: int) -> None:
        with self._lock:
            ended = self._outages.pop(account, None)
        if ended is not None:
            log.info("the inbox of account %s can be read again", account)

    def watching(self, account_id: int) -> bool:
        """Whether the account's inbox is in IDLE right now."""
        with self._lock:
            return account_id in self._idling

    # -- threads ----------------------------------------------------------------------------------------

    def _supervise(self) -> None:
        while not self._stop.is_set():
            try:
                wanted = set(self._inboxes())
            except Exception:  # the store unreachable for a moment: try again at the next sync
                log.warning("the inbox watcher could not read the channel settings", exc_info=True)
                wanted = set()
            with self._lock:
                for account in wanted:
                    thread = self._threads.get(account)
                    if thread is None or not thread.is_alive():
                        thread = threading.Thread(
                            target=self._watch, args=(account,), name=f"inbox-idle-{account}", daemon=True
                        )
                        self._threads[account] = thread
                        thread.start()
            self._stop.wait(SYNC_S)

    def _inboxes(self) -> dict[int, dict[str, Any]]:
        with self.services.db.read() as session:
            rows = session.execute(
                select(ChannelConfig.account_id, ChannelConfig.settings).where(ChannelConfig.channel == "smtp")
            ).all()
        return {int(account): dict(settings) for account, settings in rows if settings and has_inbox(settings)}

    def _watch(self, account: int) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            try:
                settings = self._inboxes().get(account)
                if settings is None:
                    self._note_reachable(account)
                    return  # the inbox was removed
                if not self._idle_once(account, settings):
                    return  # no IDLE on this server: the poll reads it
                backoff = 1.0
            except (SendError, IMAPClientError, OSError) as exc:
                reason = exc.reason if isinstance(exc, SendError) else " ".join(str(exc).split())[:160]
                log.info("inbox IDLE for account %s stopped (%s); again in %.0f s", account, reason, backoff)
                if not self._stop.is_set():
                    self._note_outage(account, reason, backoff)
            except Exception as exc:  # a thread must never die silently: log, back off, try again
                log.warning("inbox IDLE for account %s failed", account, exc_info=True)
                self._note_outage(account, f"unexpected error: {type(exc).__name__}", backoff)
            finally:
                with self._lock:
                    self._idling.discard(account)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    def _idle_once(self, account: int, settings: dict[str, Any]) -> bool:
        """One IDLE session until it is renewed, the settings change or we stop; False without IDLE support."""
        with self.services.db.read() as session:
            secrets = self.services.secrets.load(session, account, "smtp")
        timeout = float(settings.get("timeout_s") or 30.0)
        client, _validity = open_inbox(settings, secrets, timeout, settings.get("verify_tls") is not False)
        self._note_reachable(account)
        with self._lock:
            self._clients[account] = client
        try:
            if b"IDLE" not in client.capabilities():
                log.info("the inbox of account %s offers no IDLE; it is polled every 30 s", account)
                return False
            self.reader.run_once(account_id=account)
            client.idle()
            self._set_idling(account, True)
            started = time.monotonic()
            while not self._stop.is_set() and time.monotonic() - started < RENEW_S:
                waited = time.monotonic()
                responses = client.idle_check(timeout=CHECK_S)
                if not responses and time.monotonic() - waited < CHECK_S / 2 and not self._stop.is_set():
                    # imapclient's idle_check returns nothing at once when the server closed the connection (EOF).
                    raise OSError("the mail server closed the connection")
                if any(len(r) > 1 and r[1] == b"EXISTS" for r in responses):
                    client.idle_done()
                    self._set_idling(account, False)
                    self.reader.run_once(account_id=account)
                    client.idle()
                    self._set_idling(account, True)
                if self._inboxes().get(account) != settings:
                    break  # new settings: log in again with them
            self._set_idling(account, False)
            client.idle_done()
            return True
        finally:
            with self._lock:
                self._clients.pop(account, None)
            if not self._stop.is_set():
                logout_quietly(client)

    def _set_idling(self, account: int, idling: bool) -> None:
        with self._lock:
            if idling:
                self._idling.add(account)
            else:
                self._idling.discard(account)
