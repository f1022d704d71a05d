"""The WhatsApp channel: WhatsApp Web in headless Chromium, logged in by QR, paced to keep the number safe.

Contract (DESIGN sections 7 and 8):
- `connect()` never blocks: it starts the session worker, which streams the lifecycle texts through
  `context.emit_status` and the QR through `context.emit_qr`. `wait_ready(timeout_s)` waits for "Client is
  ready!". `disconnect()` quits Chromium and emits `Disconnected` (`Disconnected (forced)` when Chromium had
  to be killed). `close()` quits Chromium without a status (app shutdown). All are safe to call repeatedly.
- `connect()` while the session runs takes it back from another window ("Use here"), closes a notice the
  user has read, or reloads an update-needed page (see `WhatsAppSession.act`), and says again where it stands.
- `send(message)` returns the provider id (the `data-id` of the message's row, an opaque string) once the
  clock icon became a tick. Raises SendError(permanent) "not registered" for a number not on WhatsApp;
  SendError(pause_campaign) when the session is not connected, open in another window, restricted or banned,
  or the chat is new and the page shows its restriction bar instead of the message box (reported as `error`
  "WhatsApp says: <its words>" while existing chats keep sending; "Client is ready!" again once a new chat opens),
  or the same selector failed three sends in a row; SendError(permanent) "WhatsApp Web changed: <element> not
  found" before anything left; SendError (transient) when the send button could not be clicked;
  SendError(uncertain) when the send button was pressed but the page never confirmed it.
- `fetch_delivery(provider_id, recipient)` reads the message's ticks: `delivered` / `read` (final success),
  `sent` or `pending` (not final), None when the session is not ready or the message is not on the page and
  its chat cannot be opened. The chat is opened from the recipient (given, or remembered from the send),
  never from the id.
- `read_incoming()` opens the unread chats (through the Unread filter tab, so a chat the virtualised list does
  not render is found too) and returns their new incoming messages (chat, text,
  id, time, and the sender's number when the page tells it: `sender_phone`) without storing anything; when no
  chat shows a badge it costs one browser round trip. `sending` says a send is queued or running (the inbound
  reader, backend/conversations/whatsapp_inbound.py, waits for it to end).
- `<data dir>/whatsapp-selectors.json` overrides built-in selectors by name; checked by `verify()` and at
  each start (a bad file is refused with a sentence naming the problem).
- Context options read (all optional): `whatsapp_url`, `chromium`, `chromedriver`, `session_lease` (a
  `lease.SessionLease`, e.g. `DatabaseLease(db, "whatsapp:<account>", worker_id("whatsapp-session"))`: only
  one process drives the session), `whatsapp_timeouts` (a dict of SessionTimeouts / SendTimeouts /
  BrowserConfig timeout fields, for tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

from selenium.webdriver.remote.webdriver import WebDriver

from backend.channels.base import (
    Channel,
    ChannelContext,
    DeliveryReport,
    OutboundMessage,
    RateDefaults,
    SendError,
)
from backend.channels.whatsapp import attach, incoming, pages, rows, selector_file, sending
from backend.channels.whatsapp import selectors as sel
from backend.channels.whatsapp.browser import BrowserConfig, BrowserError, find_executable
from backend.channels.whatsapp.session import SessionTimeouts, WhatsAppSession
from backend.channels.whatsapp.settings import DEFAULT_SETTINGS, WhatsAppSettings, validate_settings
from backend.store import states

log = logging.getLogger(__name__)

DEFAULT_URL = "https://web.whatsapp.com"
#: consecutive sends failing on the same missing element before the campaign pauses instead of failing on.
PAGE_CHANGE_PAUSE_AFTER = 3
FINAL = {"delivered": True, "read": True, "failed": False}
#: a delivery check waits at most this long for the browser (the delivery job's poll budget is 30 s).
FETCH_TIMEOUT_S = 20.0
#: at most one chat opened per this many seconds just to read ticks (sends share the browser).
FETCH_INTERVAL_S = 5.0
#: recipients remembered beside the ids of recent sends (for tick checks asked without one).
REMEMBERED_IDS = 5000


class WhatsAppChannel(Channel):
    name: ClassVar[str] = "whatsapp"
    title: ClassVar[str] = "WhatsApp"
    settings_model: ClassVar[type[WhatsAppSettings]] = WhatsAppSettings
    max_attempts: ClassVar[int] = 3
    max_body_length: ClassVar[int | None] = 65_536
    recipient_kind: ClassVar[str] = "phone"
    rate_defaults: ClassVar[RateDefaults] = RateDefaults(min_delay_s=8.0, max_delay_s=20.0, daily_cap=200)
    single_session: ClassVar[bool] = True
    #: the longest one send may take with the default deadlines (`sending.SendTimeouts.longest_s`: page load,
    #: loading screen, four elements, the button, the tick, 10 s to pick it up); the lease lasts that plus a margin.
    send_timeout_s: ClassVar[float] = 285.0

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str], context: ChannelContext) -> None:
        super().__init__({**DEFAULT_SETTINGS, **settings}, secrets, context)
        options = context.options
        timeouts: dict[str, float] = dict(options.get("whatsapp_timeouts") or {})
        self.base_url = str(options.get("whatsapp_url") or DEFAULT_URL).rstrip("/")
        self.profile_dir = context.data_dir / "whatsapp-profile" / f"account-{context.account_id}"
        self.browser_config = BrowserConfig(
            profile_dir=self.profile_dir,
            chromium=options.get("chromium"),
            chromedriver=options.get("chromedriver"),
            headless=bool(self.settings["headless"]),
            **_pick(BrowserConfig, timeouts, exclude=("profile_dir", "chromium", "chromedriver", "headless")),
        )
        self.send_timeouts = sending.SendTimeouts(**_pick(sending.SendTimeouts, timeouts))
        self.selectors_file = context.data_dir / sel.OVERRIDES_FILE
        self.session = WhatsAppSession(
            self.browser_config,
            self.base_url,
            context.emit_status,
            context.emit_qr,
            SessionTimeouts(**_pick(SessionTimeouts, timeouts)),
            lease=options.get("session_lease"),
            selectors_file=self.selectors_file,
        )
        self._recipients: OrderedDict[str, str] = OrderedDict()
        self._recipients_lock = threading.Lock()
        self._incoming_seen: OrderedDict[str, None] = OrderedDict()
        self._incoming_lock = threading.Lock()
        self._page_changes = 0
        self._page_changes_lock = threading.Lock()
        #: chat title -> number, learned from the chats `/send?phone=` opened (see `sender_phone`).
        self._chat_phones: OrderedDict[str, str] = OrderedDict()
        self._sending = 0
        self._sending_lock = threading.Lock()
        self.fetch_interval_s = float(timeouts.get("fetch_interval_s", FETCH_INTERVAL_S))
        self._last_fetch_navigation = float("-inf")
        self._fetch_lock = threading.Lock()

    # -- settings ---------------------------------------------------------------------------------------
    @classmethod
    def validate_settings(
        cls, raw: dict[str, Any], current: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """See backend/channels/whatsapp/settings.py."""
        return validate_settings(raw, current)

    def rate(self) -> RateDefaults:
        """The pace the user chose (the dispatcher applies it): random pause between min and max, daily cap."""
        return RateDefaults(
            min_delay_s=float(self.settings["min_delay_s"]),
            max_delay_s=float(self.settings["max_delay_s"]),
            daily_cap=int(self.settings["daily_cap"]),
        )

    def verify(self) -> str:
        """Chromium and chromedriver can be found. (The login itself is the QR scan after Connect.)"""
        try:
            find_executable(self.browser_config.chromium, ("chromium", "chromium-browser", "google-chrome"), "Chromium")
            find_executable(self.browser_config.chromedriver, ("chromedriver",), "chromedriver")
        except BrowserError as exc:
            raise SendError(str(exc), permanent=True) from exc
        try:
            selector_file.load_overrides(self.selectors_file)
        except selector_file.SelectorFileError as exc:
            raise SendError(str(exc), permanent=True) from exc
        return "Ready to connect"

    # -- lifecycle --------------------------------------------------------------------------------------
    def connect(self) -> None:
        """Start the session in the background; returns at once (see the module docstring)."""
        if self.session.start():
            return
        # Already running (a second Connect, e.g. from a reloaded page): act on what stops it, if anything
        # (Use here, a notice read, an update-needed page), and say again where it stands.
        if self.session.state in (states.CONFLICT, states.ERROR, states.DISCONNECTED):
            self.session.act()
        if self.session.state == "ready":
            self.context.emit_status("ready", "Client is ready!")
        elif self.session.state == "qr" and self.session.current_qr:
            self.context.emit_status("qr", "Scan QR code to authenticate")
            self.context.emit_qr(self.session.current_qr)

    def wait_ready(self, timeout_s: float) -> bool:
        return self.session.wait_ready(timeout_s)

    @property
    def state(self) -> str:
        return self.session.state

    @property
    def ready(self) -> bool:
        """The page can be used: logged in and not blocked (also while new chats alone are restricted)."""
        return self.session.ready

    def disconnect(self) -> None:
        showing_qr = self.session.current_qr is not None
        graceful = self.session.stop()
        if showing_qr:
            self.context.emit_qr(None)
        self.context.emit_status("disconnected", "Disconnected" if graceful else "Disconnected (forced)")

    def close(self) -> None:
        self.session.stop()

    # -- messages ---------------------------------------------------------------------------------------
    def send(self, message: OutboundMessage) -> str:
        text, recipient = message.body, message.recipient
        t = self.send_timeouts
        budget = self.longest_send_s()
        # One file per message (checked when the campaign is created), the body as its caption.
        file = message.attachments[0] if message.attachments else None
        if file is not None:
            budget += 2 * attach.upload_budget_s(file)

        def job(driver: WebDriver, stop: threading.Event) -> tuple[sending.Sent, str | None]:
            if file is not None:
                sent = attach.send_attachment(driver, self.base_url, recipient, text, file, t, stop)
            else:
                sent = sending.send_message(driver, self.base_url, recipient, text, t, stop)
            # The chat `/send?phone=` opened is titled by the name the phone gives this number (or the number):
            # kept, so a reply in a chat titled by a name is known to come from this number.
            return sent, incoming.open_chat_title(driver)

        with self._sending_lock:
            self._sending += 1
        try:
            done: tuple[sending.Sent, str | None] = self.session.run(job, budget)
        except sending.NewChatsRestricted as exc:
            self.session.new_chats_restricted(exc.reason)  # reported; existing chats keep sending
            raise
        except pages.PageChanged as exc:
            with self._page_changes_lock:
                self._page_changes += 1
                pause = self._page_changes >= PAGE_CHANGE_PAUSE_AFTER
            log.warning("%s (sending message %s)", exc, message.id)
            raise SendError(str(exc), permanent=not pause, pause_campaign=pause) from exc
        finally:
            with self._sending_lock:
                self._sending -= 1
        provider_id, title = done[0].row_id, done[1]
        if title and incoming.phone_of_title(title) is None:
            self.remember_chat(title, recipient)  # a chat titled by a name: its number is this recipient
        with self._page_changes_lock:
            self._page_changes = 0
        if done[0].new_chat:
            self.session.new_chat_opened()
        with self._recipients_lock:
            self._recipients[provider_id] = recipient
            while len(self._recipients) > REMEMBERED_IDS:
                self._recipients.popitem(last=False)
        return provider_id

    def read_incoming(self, timeout_s: float = 60.0) -> list[incoming.IncomingMessage]:
        """New incoming messages: opens each unread chat (listed through the Unread tab) and reads its incoming rows
        not returned before (sender chat, text, id, time). Writes nothing: storing them belongs to conversations.
        Raises SendError when the session is not ready."""
        element_s = self.send_timeouts.element_s

        def job(driver: WebDriver, stop: threading.Event) -> list[incoming.IncomingMessage]:
            if not incoming.has_unread(driver):
                return []  # the usual case: one look at the chat list, no chat opened
            with self._incoming_lock:
                seen = set(self._incoming_seen)
            return incoming.read_new_incoming(driver, seen, element_s, stop)

        found: list[incoming.IncomingMessage] = self.session.run(job, timeout_s)
        with self._incoming_lock:
            for message in found:
                self._incoming_seen[message.message_id] = None
            while len(self._incoming_seen) > REMEMBERED_IDS:
                self._incoming_seen.popitem(last=False)
        return [replace(m, phone=self.sender_phone(m.chat)) for m in found]

    @property
    def sending(self) -> bool:
        """A send is queued or running on the page (inbound reading waits until it is over)."""
        with self._sending_lock:
            return self._sending > 0

    def remember_chat(self, title: str, recipient: str) -> None:
        with self._recipients_lock:
            self._chat_phones[title] = recipient
            self._chat_phones.move_to_end(title)
            while len(self._chat_phones) > REMEMBERED_IDS:
                self._chat_phones.popitem(last=False)

    def sender_phone(self, chat: str) -> str | None:
        """The number behind a chat title, from what the page shows, never from a row id (ids may hold an
        opaque LID instead of the number). Today's WhatsApp Web titles a chat with the phone's address-book
        name when it has one, else with the number itself ("+1 555-012-3456"); the number behind a name is
        only shown in the contact-info drawer. So: a title that is a number is that number; a title that is
        a name is the number we opened that chat for (`/send?phone=`, remembered by `send`); else None (a
        named chat we never wrote to in this session: the caller may know the name from its contacts)."""
        number = incoming.phone_of_title(chat)
        if number is not None:
            return number
        with self._recipients_lock:
            return self._chat_phones.get(chat)

    def longest_send_s(self) -> float:
        """The longest one send can take with these deadlines, plus a little for the worker to pick it up."""
        return self.send_timeouts.longest_s(self.browser_config.page_load_timeout_s) + 10.0

    def fetch_delivery(self, provider_message_id: str, recipient: str | None = None) -> DeliveryReport | None:
        """Read the ticks of a sent message. Free when its chat is still open (the usual case: the delivery
        job asks within seconds of the send); opening another chat costs a page load on the one browser that
        also sends, so that happens at most once per `fetch_interval_s` and otherwise answers None."""
        if not self.ready:
            return None
        element_s = self.send_timeouts.element_s
        if recipient is None:
            with self._recipients_lock:
                recipient = self._recipients.get(provider_message_id)

        def job(driver: WebDriver, stop: threading.Event) -> str | None:
            status = rows.read_row_status(driver, provider_message_id)
            if status is not None or recipient is None:
                return status
            with self._fetch_lock:
                if time.monotonic() - self._last_fetch_navigation < self.fetch_interval_s:
                    return None
                self._last_fetch_navigation = time.monotonic()
            sending.open_chat_for_row(driver, self.base_url, recipient, provider_message_id, element_s, stop)
            return rows.read_row_status(driver, provider_message_id)

        try:
            status = self.session.run(job, FETCH_TIMEOUT_S)
        except (SendError, pages.PageChanged) as exc:
            log.info("could not read the ticks of %s: %s", provider_message_id, exc)
            return None
        if status is None:
            return None
        return DeliveryReport(
            provider="whatsapp",
            provider_event_id=f"{provider_message_id}:{status}",
            status=status,
            success=FINAL.get(status),
            occurred_at=datetime.now(UTC),
            payload={"ticks": status},
        )


def _pick(cls: type, values: dict[str, Any], exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """The entries of `values` that are fields of dataclass `cls`."""
    names = {f.name for f in fields(cls)} - set(exclude)
    return {k: v for k, v in values.items() if k in names}
