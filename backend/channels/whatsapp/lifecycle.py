"""The session worker's watch over WhatsApp Web's page: a table from each kind of page (`pages.PageView.kind`)
to what the session does about it (DESIGN section 7's lifecycle texts).

`PageWatch.run()` looks at the page every poll until the session stops: QR (emitted as it rotates, its reload
button clicked), loading (waited out while its bar moves, reported and reloaded when it stalls), ready (the chat
list; a connection banner makes it `disconnected`), the "What's new" dialog (closed), conflict ("Use here" on
Connect), notices (restricted, banned), update / unsupported pages, and a page that lost its chat list. Between
looks it runs one queued job (a send, a read) while the page is ready. Only the session's worker calls it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver

from backend.channels.whatsapp import pages
from backend.channels.whatsapp import selectors as sel
from backend.channels.whatsapp.qr import qr_data_url
from backend.store import states

if TYPE_CHECKING:
    from backend.channels.whatsapp.session import WhatsAppSession

log = logging.getLogger(__name__)

#: phases in which the session was logged in (a QR now means the phone logged us out).
_LOGGED_IN = ("ready", "offline", "conflict", "notice")


@dataclass
class Watch:
    """What the watch remembers between looks."""

    deadline: float  # while `starting`: by then a QR, a loading screen or the chat list must have shown
    phase: str = "starting"
    shown_ref: str | None = None  # the QR payload last emitted
    qr_shown: bool = False
    authenticated: bool = False
    lost_since: float | None = None  # the chat list went away (no QR either) at this time
    progress: float | None = None  # the loading bar's value when it last moved
    moved_at: float = field(default_factory=time.monotonic)
    last_kind: str = ""


class PageWatch:
    def __init__(self, session: WhatsAppSession, driver: WebDriver) -> None:
        self.session = session
        self.driver = driver
        self.t = session.timeouts
        self.w = Watch(deadline=time.monotonic() + self.t.startup_s)
        #: the table: what to do on each kind of page.
        self.handlers: dict[str, Callable[[pages.PageView, float, bool], None]] = {
            "qr": self._on_qr,
            "reload": self._on_qr,
            "loading": self._on_loading,
            "ready": self._on_ready,
            "whats_new": self._on_whats_new,
            "conflict": self._on_conflict,
            "notice": self._on_notice,
            "update": self._on_blocking_page,
            "unsupported": self._on_blocking_page,
            "unknown": self._on_unknown,
        }

    def run(self) -> None:
        """Watch until the session stops, or until the page never showed anything known at start."""
        s, w = self.session, self.w
        while not s.stopping:
            if s.take_job_ran():
                w.last_kind = ""  # a job moved the page meanwhile
            view = pages.read_page(self.driver)
            now = time.monotonic()
            if view.kind != "unknown":
                w.lost_since = None
            self.handlers.get(view.kind, self._on_unknown)(view, now, s.take_act())
            if w.phase == "starting" and now > w.deadline:
                s.status("error", f"Failed to initialize client: WhatsApp Web changed: {sel.QR_CODE.name} not found")
                return
            w.last_kind = view.kind
            s.run_one_job(self.driver, w.phase == "ready")

    # -- the handlers -------------------------------------------------------------------------------------
    def _on_qr(self, view: pages.PageView, now: float, act: bool) -> None:
        s, w = self.session, self.w
        if w.phase in _LOGGED_IN:
            s.not_ready(states.DISCONNECTED, "Client disconnected: LOGOUT")
        if w.phase != "qr":
            w.phase, w.authenticated = "qr", False
            s.unblock()
            s.status("qr", "Scan QR code to authenticate")
        if view.kind == "reload" and view.element is not None:
            log.info("WhatsApp Web stopped rotating the QR code; clicking reload")
            _click(view.element)
        elif view.qr_payload and view.qr_payload != w.shown_ref:
            w.shown_ref, w.qr_shown = view.qr_payload, True
            s.emit_qr(qr_data_url(view.qr_payload))

    def _on_loading(self, view: pages.PageView, now: float, act: bool) -> None:
        s, w = self.session, self.w
        if w.last_kind != "loading":
            w.progress, w.moved_at = view.progress, now
        if w.phase not in ("loading", "ready"):
            # (ready: WhatsApp Web shows it again after a send's page load; sends wait for it themselves)
            w.phase = "loading"
            self._authenticated()
        elif view.progress != w.progress:
            w.progress, w.moved_at = view.progress, now  # it moves: a first sync may take minutes
        elif now - w.moved_at > self.t.loading_stall_s:
            at = f" at {w.progress:g}%" if w.progress is not None else ""
            s.status(
                "auth_failure",
                f"Authentication failed: Loading your chats stopped{at} for {self.t.loading_stall_s:g} s; "
                "reloading WhatsApp Web",
            )
            s.ready_event.clear()
            self._reload(now)
            w.authenticated = False

    def _on_ready(self, view: pages.PageView, now: float, act: bool) -> None:
        s, w = self.session, self.w
        if view.banner:
            if w.phase != "offline":
                w.phase = "offline"
                s.not_ready(states.DISCONNECTED, f"Client disconnected: {view.banner}")
        elif w.phase != "ready":
            self._authenticated()
            w.phase = "ready"
            s.unblock()
            s.status("ready", "Client is ready!")
            s.ready_event.set()

    def _on_whats_new(self, view: pages.PageView, now: float, act: bool) -> None:
        """ "What's new on WhatsApp Web" lies over the chat list after login: close it, then it is the chat list."""
        if view.element is not None:
            log.info('WhatsApp Web: closing the "What\'s new" dialog')
            _click(view.element)
        self._on_ready(pages.PageView("ready"), now, act)

    def _on_conflict(self, view: pages.PageView, now: float, act: bool) -> None:
        if self.w.phase != "conflict":
            self.w.phase = "conflict"
            self.session.not_ready(states.CONFLICT, pages.CONFLICT_TEXT)
        if act and view.element is not None:
            log.info("WhatsApp Web: taking the session back (Use here)")
            _click(view.element)

    def _on_notice(self, view: pages.PageView, now: float, act: bool) -> None:
        words = pages.says(view.element) if view.element is not None else "WhatsApp says: (no words)"
        if self.w.phase != "notice" or words != self.session.blocked:
            self.w.phase = "notice"
            self.session.not_ready(states.ERROR, words)
        if act and view.element is not None:
            ok = sel.DIALOG_OK.find(view.element)
            if ok is not None:
                _click(ok)  # the user read it and pressed Connect: look again

    def _on_blocking_page(self, view: pages.PageView, now: float, act: bool) -> None:
        text = pages.UPDATE_TEXT if view.kind == "update" else pages.UNSUPPORTED_TEXT
        if self.w.phase != view.kind:
            self.w.phase = view.kind
            self.session.not_ready(states.ERROR, text)
        if act:
            self._reload(now)

    def _on_unknown(self, view: pages.PageView, now: float, act: bool) -> None:
        w = self.w
        if w.phase != "ready":
            return
        w.lost_since = w.lost_since or now
        if now - w.lost_since > self.t.lost_s:
            self.session.not_ready(
                "disconnected", f"Client disconnected: WhatsApp Web changed: {sel.CHAT_LIST.name} not found"
            )
            self._reload(now)

    # -- helpers ------------------------------------------------------------------------------------------
    def _reload(self, now: float) -> None:
        self.driver.get(self.session.base_url)
        self.w.phase, self.w.deadline, self.w.lost_since = "starting", now + self.t.startup_s, None

    def _authenticated(self) -> None:
        """Say "Authenticated!" once per login (and withdraw the QR if one was shown)."""
        w = self.w
        if w.authenticated:
            return
        self.session.status("authenticated", "Authenticated!")
        if w.qr_shown:
            self.session.emit_qr(None)
        w.authenticated, w.qr_shown, w.shown_ref = True, False, None


def _click(element: Any) -> None:
    try:
        element.click()
    except WebDriverException as exc:
        # Usually the button is still being laid out; the next poll tries again.
        log.info("could not click a button yet: %s", ((exc.msg or "").splitlines() or [""])[0])
