"""Reading WhatsApp Web's page: what it shows now (`read_page`), waiting for elements with a deadline, and
clicking through whatever lies over it. Sending is in `sending`, message rows in `rows`, incoming messages in
`incoming`; page knowledge comes from `selectors` only.

Every wait here has a deadline. When an element the flow needs does not show up in time, `PageChanged`
names it ("WhatsApp Web changed: message box not found").
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from backend.channels.base import SendError
from backend.channels.whatsapp import selectors as sel

log = logging.getLogger(__name__)

POLL_S = 0.1
#: a click caught by something over the page: after this long, try Escape (once) to close it.
ESCAPE_AFTER_S = 1.0
CONFLICT_TEXT = "WhatsApp is open in another window"
UPDATE_TEXT = "WhatsApp Web needs an update"
UNSUPPORTED_TEXT = "This browser is not supported"
#: when the page stops sending for now (conflict, not logged in): ask to be tried again after this long.
WAIT_RETRY_S = 30.0


class PageChanged(Exception):
    """An element the flow needs did not appear in time: WhatsApp Web changed (or is far too slow)."""

    def __init__(self, selector: sel.Selector) -> None:
        super().__init__(f"WhatsApp Web changed: {selector.name} not found")
        self.selector = selector


@dataclass(frozen=True)
class PageView:
    """What the page shows now.

    `kind`: `ready` (chat list; `banner` holds a connection warning's words when one shows), `whats_new` (the
    chat list under a "What's new on WhatsApp Web" dialog; `element` is its Continue / Close button), `qr` (with its
    payload), `reload` (the QR gave up rotating), `loading` (with the progress bar's value), `conflict` (open
    in another window; `element` is the Use here button), `notice` (restricted / banned: `words`, `element`
    the popup), `update`, `unsupported`, or `unknown` (splash, or something we do not know)."""

    kind: str
    qr_payload: str | None = None
    element: WebElement | None = None
    progress: float | None = None
    words: str | None = None
    banner: str | None = None


def words_of(element: WebElement, limit: int = 200) -> str:
    """The element's visible text on one line, without a trailing button or link ("OK", "Learn more")."""
    try:
        text = " ".join((element.text or "").split())
    except (StaleElementReferenceException, WebDriverException):
        return ""
    text = re.sub(r"(\s*\b(OK|Close|Learn more)\b)+\s*$", "", text)
    return text[:limit]


#: what one look at the page asks for (one browser round trip); the whole-page texts only when nothing matched.
_LOOK = (
    sel.CONFLICT_DIALOG,
    sel.CHAT_LIST,
    sel.ACCOUNT_NOTICE,
    sel.WHATS_NEW_DIALOG,
    sel.CONNECTION_BANNER,
    sel.QR_RELOAD,
    sel.QR_CODE,
    sel.LOADING,
)
_LOOK_HARDER = (sel.UNSUPPORTED_PAGE, sel.UPDATE_PAGE)


def read_page(driver: WebDriver) -> PageView:
    """Classify the page. Popups that stop everything come first (they lie over the chat list)."""
    seen = sel.probe(driver, _LOOK)

    def first(selector: sel.Selector) -> WebElement | None:
        found = seen.get(selector.name) or []
        return found[0] if found else None

    conflict = first(sel.CONFLICT_DIALOG)
    if conflict is not None:
        return PageView("conflict", element=sel.USE_HERE.find(conflict), words=words_of(conflict))
    if first(sel.CHAT_LIST) is not None:
        notice = first(sel.ACCOUNT_NOTICE)
        if notice is not None:
            return PageView("notice", element=notice, words=words_of(notice))
        news = first(sel.WHATS_NEW_DIALOG)
        if news is not None:
            return PageView("whats_new", element=sel.WHATS_NEW_CLOSE.find(news))
        banner = first(sel.CONNECTION_BANNER)
        return PageView("ready", banner=words_of(banner) if banner is not None else None)
    button = first(sel.QR_RELOAD)
    if button is not None:
        return PageView("reload", element=button)
    qr = first(sel.QR_CODE)
    if qr is not None:
        payload = sel.element_attribute(qr, "data-ref")
        if payload:
            return PageView("qr", qr_payload=payload)
    loading = first(sel.LOADING)
    if loading is not None:
        return PageView("loading", progress=_number(sel.element_attribute(loading, "value")))
    harder = sel.probe(driver, _LOOK_HARDER, limit=1)
    if harder.get(sel.UNSUPPORTED_PAGE.name):
        return PageView("unsupported")
    if harder.get(sel.UPDATE_PAGE.name):
        return PageView("update")
    return PageView("unknown")


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def wait_for_first(
    driver: WebDriver | WebElement,
    candidates: tuple[sel.Selector, ...],
    timeout_s: float,
    stop: threading.Event | None = None,
    loading_s: float = 0.0,
) -> tuple[sel.Selector, WebElement]:
    """The first of `candidates` (checked in order) present on the page within `timeout_s`.

    With `loading_s`, the deadline moves on (by up to `loading_s` in all) while WhatsApp Web's "Loading your
    chats" bar moves (a page load can sync for a long time); a bar that stops, or still loads after that, gives
    SendError (transient: nothing was sent).
    Raises PageChanged naming candidates[0] (the one the flow expects) when none appears in time, and
    SendError when `stop` is set meanwhile."""
    deadline = time.monotonic() + timeout_s
    latest = deadline + loading_s
    progress: float | None = None
    while_loading = loading_s > 0
    while True:
        for candidate in candidates:
            element = candidate.find(driver)
            if element is not None:
                return candidate, element
        if while_loading:
            bar = sel.LOADING.find(driver)
            value = _number(sel.element_attribute(bar, "value")) if bar is not None else None
            if bar is not None and value != progress:
                progress, deadline = value, min(latest, time.monotonic() + timeout_s)
        if time.monotonic() >= deadline:
            if while_loading and sel.LOADING.find(driver) is not None:
                raise SendError("WhatsApp Web did not finish loading its chats")
            raise PageChanged(candidates[0])
        if stop is not None and stop.wait(POLL_S):
            raise SendError("WhatsApp client stopped")
        if stop is None:
            time.sleep(POLL_S)


def says(notice: WebElement) -> str:
    text = words_of(notice)
    return f"WhatsApp says: {text}" if text else "WhatsApp says this number is restricted or banned"


def close_dialog(driver: WebDriver, dialog: WebElement) -> None:
    ok = sel.DIALOG_OK.find(dialog)
    if ok is not None:
        click(driver, ok, 5.0, None)
    else:
        ActionChains(driver).send_keys(Keys.ESCAPE).perform()


def click(driver: WebDriver, element: WebElement, timeout_s: float, stop: threading.Event | None) -> bool:
    """Click `element`; when something lies over it and catches the click, close that (its close button, then
    Escape once) or wait it out, until `timeout_s`. True when the click landed, False when it never did."""
    deadline = time.monotonic() + timeout_s
    started = time.monotonic()
    escaped = False
    while True:
        try:
            element.click()
            return True
        except (ElementClickInterceptedException, ElementNotInteractableException) as exc:
            log.info("WhatsApp Web: a click was caught by something over the page (%s)", first_line(exc))
        except StaleElementReferenceException:
            return False
        if time.monotonic() >= deadline:
            return False
        closer = sel.OVERLAY_CLOSE.find(driver)
        if closer is not None and closer != element:
            try:
                closer.click()
            except WebDriverException:
                pass
        elif not escaped and time.monotonic() - started >= ESCAPE_AFTER_S:
            escaped = True
            try:
                ActionChains(driver).send_keys(Keys.ESCAPE).perform()
            except WebDriverException:
                pass
        if stop is not None:
            if stop.wait(POLL_S):
                return False
        else:
            time.sleep(POLL_S)


def first_line(exc: WebDriverException) -> str:
    """The first line of a WebDriver error (its message runs on with a stack trace)."""
    return ((exc.msg or "").strip().splitlines() or [type(exc).__name__])[0][:160]


def validate_css(driver: WebDriver, overrides: dict[str, tuple[str, ...]]) -> str | None:
    """The first override the browser cannot parse as CSS, as a sentence; None when all parse."""
    bad = driver.execute_script(
        "const bad = []; for (const [name, list] of arguments[0]) for (const c of list) {"
        " try { document.querySelector(c); } catch (e) { bad.push([name, c]); } } return bad;",
        [[name, list(values)] for name, values in overrides.items()],
    )
    if bad:
        name, css = bad[0]
        return f'{sel.OVERRIDES_FILE}: the selector {css!r} for "{name}" is not valid CSS.'
    return None
