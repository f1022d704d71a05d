"""One live WhatsApp Web session: a worker thread that owns Chromium and everything done on the page.

Contract:
- `start()` returns at once; the worker starts Chromium, loads WhatsApp Web and reports, through
  `emit_status(state, text)` and `emit_qr(data_url | None)`, exactly the texts of DESIGN section 7:
  `Starting WhatsApp client...`, `Initializing WhatsApp client...`, `Scan QR code to authenticate` (plus a
  `channel.qr` each time the QR rotates; the reload button is clicked when it shows), `Authenticated!`,
  `Client is ready!`, `Client disconnected: <reason>` (then a new QR), `Authentication failed: <reason>`,
  `Failed to initialize client: <error>`; and today's page's states: `conflict` "WhatsApp is open in another
  window" (within a poll of the popup showing), `error` "WhatsApp Web needs an update" / "This browser is not
  supported" / "WhatsApp says: <the page's words>" (restricted, banned), `disconnected` "Client disconnected:
  Phone not connected ..." (the page's banner). "Loading your chats" is waited out while its bar moves and
  reported (`Authentication failed: Loading your chats stopped ...`) and reloaded when it stalls for
  `loading_stall_s`. `act()` (Connect pressed again) clicks "Use here", closes a notice or reloads the page.
- A `whatsapp-selectors.json` (`selectors_file`) is read and checked at each start; a bad one is refused with
  `Failed to initialize client: <the problem>` before WhatsApp Web is opened.
- `run(job, timeout_s)` runs `job(driver, stop_event)` on the worker (WebDriver is not thread-safe, so only
  the worker touches it) once the session is ready; raises SendError when it is not ready or does not answer.
- `stop()` ends the worker and quits Chromium within a bounded time and returns True when Chromium ended
  gracefully. The caller emits `Disconnected` / `Disconnected (forced)`.
- With a `lease` (DESIGN section 12), Chromium starts only once the lease is ours
  (`Failed to initialize client: WhatsApp is connected in another process (<holder>)` otherwise); a keeper
  thread renews it every ttl/3; when it is lost the session ends with `Client disconnected: <reason>`. It is
  released after Chromium has quit.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy.exc import SQLAlchemyError

from backend.channels.base import SendError
from backend.channels.whatsapp import pages, selector_file
from backend.channels.whatsapp import selectors as sel
from backend.channels.whatsapp.browser import Browser, BrowserConfig, BrowserError, start_browser
from backend.channels.whatsapp.lifecycle import PageWatch
from backend.store import states
from backend.store.leases import SessionLease

log = logging.getLogger(__name__)

T = TypeVar("T")
#: when a send finds the session not ready: ask to be tried again after this long (a scan takes a while).
NOT_READY_RETRY_S = 30.0
Job = Callable[[WebDriver, threading.Event], Any]


@dataclass(frozen=True)
class SessionTimeouts:
    startup_s: float = 60.0  # page load -> QR, loading screen or chat list
    loading_stall_s: float = 180.0  # "Loading your chats" without any progress this long -> reported, reloaded
    lost_s: float = 30.0  # chat list gone without a QR -> reload the page
    poll_s: float = 0.25  # how often the idle worker looks at the page
    quit_s: float = 10.0


class WhatsAppSession:
    def __init__(
        self,
        browser_config: BrowserConfig,
        base_url: str,
        emit_status: Callable[[states.ChannelState, str], None],
        emit_qr: Callable[[str | None], None],
        timeouts: SessionTimeouts | None = None,
        lease: SessionLease | None = None,
        selectors_file: Path | None = None,
    ) -> None:
        self.lease = lease
        #: `<data dir>/whatsapp-selectors.json`: read and checked at each start (a bad file is refused).
        self.selectors_file = selectors_file
        self._lease_lost: str | None = None
        self.browser_config = browser_config
        self.base_url = base_url.rstrip("/")
        self.timeouts = timeouts or SessionTimeouts()
        self._emit_status = emit_status
        self._emit_qr_callback = emit_qr
        #: the QR on screen now (None when there is none): re-sent to a client that connects again.
        self.current_qr: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._jobs: queue.Queue[tuple[Job, Future[Any]]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._browser: Browser | None = None
        self._graceful = True
        self.state: states.ChannelState = states.DISCONNECTED
        #: why sending waits now (conflict, notice, update...), shown as the reason a send is refused.
        self._blocked: str | None = None
        #: Connect pressed while the session runs: take it back (Use here), close a notice, reload.
        self._act = threading.Event()
        self._ran_job = False
        #: the page's words while new chats are restricted (existing chats still send), else None.
        self._restricted: str | None = None

    # -- the app's side ---------------------------------------------------------------------------------
    def start(self) -> bool:
        """Start the worker unless it runs already. Returns False when it was already running."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return False
            self._stop.clear()
            self._ready.clear()
            self._act.clear()
            self._blocked = None
            self._restricted = None
            self._graceful = True
            self._thread = threading.Thread(target=self._run, name="whatsapp-session", daemon=True)
            self._thread.start()
            return True

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def wait_ready(self, timeout_s: float) -> bool:
        return self._ready.wait(timeout_s)

    def stop(self) -> bool:
        """Stop the worker and Chromium. True when Chromium ended by itself, False when it had to be killed."""
        with self._lock:
            thread = self._thread
            self._stop.set()
        if thread is None:
            return True
        thread.join(self.timeouts.quit_s + 60.0)
        if thread.is_alive():
            # The worker is stuck inside a WebDriver call; kill the browser under it.
            log.error("WhatsApp worker did not stop; killing Chromium")
            browser = self._browser
            if browser is not None:
                browser.quit(timeout_s=2.0)
            self._graceful = False
            thread.join(5.0)
        return self._graceful

    def act(self) -> None:
        """Connect pressed again: take the session back from another window ("Use here"), close a notice the
        user has read, or reload an update-needed page, on the worker's next look at the page."""
        self._act.set()

    def _refusal(self) -> SendError:
        reason = self._blocked or "WhatsApp is not connected"
        if reason.startswith("WhatsApp says:"):
            return SendError(reason, pause_campaign=True)  # restricted or banned: paused until the user resumes
        return SendError(reason, pause_campaign=True, retry_after=NOT_READY_RETRY_S)

    def run(self, job: Job, timeout_s: float) -> Any:
        """Run `job(driver, stop)` on the worker; see the module docstring."""
        if not self._ready.is_set():
            raise self._refusal()
        future: Future[Any] = Future()
        self._jobs.put((job, future))
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout as exc:
            future.cancel()
            raise SendError(f"WhatsApp Web did not answer within {timeout_s:g} s", uncertain=True) from exc

    # -- the worker -------------------------------------------------------------------------------------
    def _status(self, state: states.ChannelState, text: str) -> None:
        self.state = state
        log.info("whatsapp: %s", text)
        self._emit_status(state, text)

    def _run(self) -> None:
        try:
            self._run_session()
        except Exception:
            # Whatever escaped (a driver that cannot be executed, a broken profile directory...): say so, instead
            # of leaving "Starting WhatsApp client..." on screen with nothing behind it.
            log.exception("WhatsApp session failed")
            self._ready.clear()
            self._fail_pending_jobs()
            if not self._stop.is_set():
                self._status("error", "Failed to initialize client: internal error (see the log)")

    def _run_session(self) -> None:
        self._status("initializing", "Starting WhatsApp client...")
        if not self._take_lease():
            return
        keeper = None
        if self.lease is not None:
            keeper = threading.Thread(target=self._keep_lease, name="whatsapp-lease", daemon=True)
            keeper.start()
        try:
            self._run_browser()
        finally:
            self._release_lease(keeper)

    def _run_browser(self) -> None:
        try:
            overrides = selector_file.load_overrides(self.selectors_file) if self.selectors_file is not None else {}
        except selector_file.SelectorFileError as exc:
            self._status("error", f"Failed to initialize client: {exc}")
            return
        try:
            self._browser = start_browser(self.browser_config)
        except BrowserError as exc:
            self._status("error", f"Failed to initialize client: {exc}")
            return
        try:
            problem = pages.validate_css(self._browser.driver, overrides) if overrides else None
            if problem:
                self._status("error", f"Failed to initialize client: {problem}")
                return
            sel.use_overrides(overrides)
            self._status("initializing", "Initializing WhatsApp client...")
            self._browser.driver.get(self.base_url)
            PageWatch(self, self._browser.driver).run()
        except WebDriverException as exc:
            if not self._stop.is_set():
                reason = ((exc.msg or "").strip().splitlines() or [type(exc).__name__])[0]
                if self.state == "initializing":
                    self._status("error", f"Failed to initialize client: {reason}")
                else:
                    self._status("disconnected", f"Client disconnected: Chromium stopped responding ({reason})")
        except Exception:
            log.exception("WhatsApp worker failed")
            self._status("error", "Failed to initialize client: internal error (see the log)")
        finally:
            self._ready.clear()
            self.current_qr = None
            self._fail_pending_jobs()
            graceful = self._browser.quit(self.timeouts.quit_s)
            self._graceful = self._graceful and graceful
            self._browser = None
            if self._lease_lost:
                self._status("disconnected", f"Client disconnected: {self._lease_lost}")
            elif self.state != "error":
                self.state = "disconnected"

    # -- the lease (one process per WhatsApp session) -----------------------------------------------------
    def _take_lease(self) -> bool:
        self._lease_lost = None
        if self.lease is None:
            return True
        try:
            holder = self.lease.acquire()
        except SQLAlchemyError as exc:
            log.error("could not take the WhatsApp session lease: %s", exc)
            self._status("error", "Failed to initialize client: the database did not answer")
            return False
        if holder is not None:
            self._status("error", f"Failed to initialize client: WhatsApp is connected in another process ({holder})")
            return False
        return True

    def _keep_lease(self) -> None:
        """Renew every ttl/3 until the worker ends; a lease lost (or unrenewable until it expires) stops it."""
        assert self.lease is not None
        ttl = self.lease.ttl_s
        renewed_at = time.monotonic()
        while not self._stop.wait(ttl / 3):
            try:
                if self.lease.renew():
                    renewed_at = time.monotonic()
                    continue
                reason = "another process took over the WhatsApp session"
            except SQLAlchemyError as exc:
                log.warning("could not renew the WhatsApp session lease: %s", exc)
                if time.monotonic() - renewed_at < ttl * 0.9:
                    continue
                reason = "the database did not answer, so the WhatsApp session was given up"
            log.error("WhatsApp session lease lost: %s", reason)
            self._lease_lost = reason
            self._stop.set()
            return

    def _release_lease(self, keeper: threading.Thread | None) -> None:
        if self.lease is None:
            return
        self._stop.set()
        if keeper is not None:
            keeper.join(5.0)
        try:
            self.lease.release()
        except SQLAlchemyError as exc:
            log.warning("could not release the WhatsApp session lease (it expires by itself): %s", exc)

    # -- what the page watch (lifecycle.PageWatch, on this worker) uses ---------------------------------------
    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def ready_event(self) -> threading.Event:
        return self._ready

    @property
    def blocked(self) -> str | None:
        """Why sending waits now (conflict, notice, update...), None when it does not."""
        return self._blocked

    def take_act(self) -> bool:
        """Whether Connect was pressed since the last look (and forget it)."""
        act = self._act.is_set()
        self._act.clear()
        return act

    def take_job_ran(self) -> bool:
        """Whether a job ran since the last look (it may have moved the page), and forget it."""
        ran, self._ran_job = self._ran_job, False
        return ran

    def unblock(self) -> None:
        self._blocked = None
        self._restricted = None

    def status(self, state: states.ChannelState, text: str) -> None:
        self._status(state, text)

    def not_ready(self, state: states.ChannelState, text: str) -> None:
        """Sending waits: jobs are refused with `text` until the page is ready again."""
        self._ready.clear()
        self._blocked = text
        self._status(state, text)

    def emit_qr(self, data_url: str | None) -> None:
        self.current_qr = data_url
        self._emit_qr_callback(data_url)

    # -- new chats restricted (reported by sends; the page stays usable for existing chats) -------------------
    def new_chats_restricted(self, words: str) -> None:
        """A send found the restriction bar instead of a new chat's message box: say so once (`error`, the
        page's words) and keep running jobs: existing chats still send."""
        with self._lock:
            if self._restricted == words:
                return
            self._restricted = words
        self._status(states.ERROR, words)

    def new_chat_opened(self) -> None:
        """A send to a new chat went through: if new chats were restricted and nothing else blocks, ready again."""
        with self._lock:
            was, self._restricted = self._restricted, None
        if was is not None and self._ready.is_set() and self._blocked is None:
            self._status("ready", "Client is ready!")

    @property
    def ready(self) -> bool:
        """Jobs run: logged in and nothing blocks the page (new chats alone may be restricted)."""
        return self._ready.is_set()

    def run_one_job(self, driver: WebDriver, ready: bool) -> None:
        """Wait up to one poll interval for a job and run it (or refuse it when the session is not ready)."""
        try:
            job, future = self._jobs.get(timeout=self.timeouts.poll_s)
        except queue.Empty:
            return
        if not future.set_running_or_notify_cancel():
            return
        if not ready:
            future.set_exception(self._refusal())
            return
        self._ran_job = True
        try:
            future.set_result(job(driver, self._stop))
        except Exception as exc:  # noqa: BLE001 - handed to the caller, who records it
            future.set_exception(exc)

    def _fail_pending_jobs(self) -> None:
        while True:
            try:
                _, future = self._jobs.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(SendError("WhatsApp client stopped", pause_campaign=True))
