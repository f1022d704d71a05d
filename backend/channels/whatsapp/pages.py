"""What the channel does on WhatsApp Web's page: read the login screen, send one message, read its ticks.

Every wait here has a deadline. When an element the flow needs does not show up in time, `PageChanged`
names it ("WhatsApp Web changed: message box not found"). Page knowledge comes from `selectors` only.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from backend.channels.base import SendError
from backend.channels.whatsapp import selectors as sel

log = logging.getLogger(__name__)

POLL_S = 0.1


class PageChanged(Exception):
    """An element the flow needs did not appear in time: WhatsApp Web changed (or is far too slow)."""

    def __init__(self, selector: sel.Selector) -> None:
        super().__init__(f"WhatsApp Web changed: {selector.name} not found")
        self.selector = selector


@dataclass(frozen=True)
class LoginView:
    """What the page shows now: `ready` (chat list), `qr` (with its payload), `reload` (the QR gave up
    rotating), `loading` (a scan was accepted or a session is being restored), or `unknown`."""

    kind: str
    qr_payload: str | None = None
    reload_button: WebElement | None = None


@dataclass(frozen=True)
class SendTimeouts:
    element_s: float = 30.0  # each element on the way (composer, dialog, new message row)
    sent_s: float = 60.0  # clock icon -> single tick


def read_login_view(driver: WebDriver) -> LoginView:
    if sel.CHAT_LIST.find(driver) is not None:
        return LoginView("ready")
    button = sel.QR_RELOAD.find(driver)
    if button is not None:
        return LoginView("reload", reload_button=button)
    qr = sel.QR_CODE.find(driver)
    if qr is not None:
        payload = sel.element_attribute(qr, "data-ref")
        if payload:
            return LoginView("qr", qr_payload=payload)
    if sel.LOADING.find(driver) is not None:
        return LoginView("loading")
    return LoginView("unknown")


def wait_for_first(
    driver: WebDriver | WebElement,
    candidates: tuple[sel.Selector, ...],
    timeout_s: float,
    stop: threading.Event | None = None,
) -> tuple[sel.Selector, WebElement]:
    """The first of `candidates` (checked in order) present on the page within `timeout_s`.

    Raises PageChanged naming candidates[0] (the one the flow expects) when none appears in time, and
    SendError when `stop` is set meanwhile."""
    deadline = time.monotonic() + timeout_s
    while True:
        for candidate in candidates:
            element = candidate.find(driver)
            if element is not None:
                return candidate, element
        if time.monotonic() >= deadline:
            raise PageChanged(candidates[0])
        if stop is not None and stop.wait(POLL_S):
            raise SendError("WhatsApp client stopped")
        if stop is None:
            time.sleep(POLL_S)


def phone_digits(recipient: str) -> str:
    """The digits WhatsApp wants in `/send?phone=`; raises SendError(permanent) for a non-number."""
    digits = re.sub(r"\D", "", recipient)
    if not 7 <= len(digits) <= 15:
        raise SendError(f"invalid phone number {recipient!r}", permanent=True)
    return digits


def send_url(base_url: str, digits: str, text: str | None = None) -> str:
    url = f"{base_url.rstrip('/')}/send?phone={digits}"
    return url if text is None else f"{url}&text={quote(text, safe='')}"


def open_url(driver: WebDriver, url: str) -> None:
    try:
        driver.get(url)
    except TimeoutException as exc:
        raise SendError("WhatsApp Web did not load in time") from exc


def send_message(
    driver: WebDriver, base_url: str, recipient: str, text: str, timeouts: SendTimeouts, stop: threading.Event
) -> str:
    """Send `text` to `recipient` and wait until WhatsApp shows it left (clock -> tick). Returns the message's
    provider id (the row's data-id).

    Raises SendError(permanent) "not registered" for the invalid-number dialog (closed, so the next send works);
    SendError(pause_campaign) when the page says the number is throttled or banned, or the session is logged
    out; PageChanged before anything was sent; SendError(uncertain) once the send button was pressed but the
    page did not confirm the send in time."""
    digits = phone_digits(recipient)
    open_url(driver, send_url(base_url, digits, text))
    found, element = wait_for_first(
        driver,
        (sel.COMPOSER, sel.INVALID_NUMBER_DIALOG, sel.BLOCKED_BANNER, sel.QR_CODE),
        timeouts.element_s,
        stop,
    )
    if found is sel.INVALID_NUMBER_DIALOG:
        close_dialog(element)
        raise SendError("not registered", permanent=True)
    if found is sel.QR_CODE:
        raise SendError("WhatsApp Web is logged out", pause_campaign=True)
    blocked = element if found is sel.BLOCKED_BANNER else sel.BLOCKED_BANNER.find(driver)
    if blocked is not None:
        raise SendError(blocked_reason(blocked), pause_campaign=True)
    composer = element
    _wait_for_prefilled_text(composer, text, timeouts.element_s, stop)
    before = {sel.element_attribute(row, sel.ROW_ID_ATTRIBUTE) for row in sel.OUTGOING_ROW.find_all(driver)}
    button = sel.SEND_BUTTON.find(driver)
    if button is not None:
        button.click()
    else:
        log.warning("WhatsApp Web: send button not found, pressing Enter in the message box")
        composer.send_keys(Keys.ENTER)
    row_id = _wait_for_new_row(driver, composer, before, timeouts.element_s, stop)
    _wait_until_sent(driver, row_id, timeouts.sent_s, stop)
    return row_id


def close_dialog(dialog: WebElement) -> None:
    ok = sel.DIALOG_OK.find(dialog)
    if ok is not None:
        ok.click()
    else:
        dialog.send_keys(Keys.ESCAPE)


def blocked_reason(banner: WebElement) -> str:
    text = " ".join((banner.text or "").split())
    text = re.sub(r"\s*\bOK\b\s*$", "", text)
    return f"WhatsApp says: {text[:200]}" if text else "WhatsApp says this number is throttled or banned"


def _wait_for_prefilled_text(composer: WebElement, text: str, timeout_s: float, stop: threading.Event) -> None:
    """WhatsApp fills the box from the URL's text a moment after the chat opens; sending earlier sends nothing."""
    if not text.strip():
        raise SendError("empty message", permanent=True)
    deadline = time.monotonic() + timeout_s
    while not (sel.element_attribute(composer, "innerText") or "").strip():
        if time.monotonic() >= deadline:
            raise SendError("WhatsApp Web did not fill in the message text")
        if stop.wait(POLL_S):
            raise SendError("WhatsApp client stopped")


def _wait_for_new_row(
    driver: WebDriver, composer: WebElement, before: set[str | None], timeout_s: float, stop: threading.Event
) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        rows = sel.OUTGOING_ROW.find_all(driver)
        if rows:
            row_id = sel.element_attribute(rows[-1], sel.ROW_ID_ATTRIBUTE)
            if row_id and row_id not in before:
                return row_id
        if time.monotonic() >= deadline:
            break
        if stop.wait(POLL_S):
            raise SendError("WhatsApp client stopped after pressing send", uncertain=True)
    if (sel.element_attribute(composer, "innerText") or "").strip():
        # The text is still in the box: nothing left, so this is safe to call failed.
        raise PageChanged(sel.SEND_BUTTON)
    raise SendError(f"WhatsApp Web changed: {sel.OUTGOING_ROW.name} not found after sending", uncertain=True)


def _wait_until_sent(driver: WebDriver, row_id: str, timeout_s: float, stop: threading.Event) -> None:
    deadline = time.monotonic() + timeout_s
    status = None
    while True:
        status = read_row_status(driver, row_id)
        if status in ("sent", "delivered", "read"):
            return
        if status == "failed":
            raise SendError("WhatsApp Web shows the message as not sent", uncertain=True)
        if time.monotonic() >= deadline:
            break
        if stop.wait(POLL_S):
            raise SendError("WhatsApp client stopped before the message was confirmed", uncertain=True)
    if status is None:
        raise SendError(f"WhatsApp Web changed: {sel.TICK.name} not found", uncertain=True)
    raise SendError(f"WhatsApp Web did not confirm the send within {timeout_s:g} s", uncertain=True)


def read_row_status(driver: WebDriver, row_id: str) -> str | None:
    """`pending` `sent` `delivered` `read` `failed` for the row with this id, None if the page can't tell."""
    try:
        for row in sel.OUTGOING_ROW.find_all(driver):
            if sel.element_attribute(row, sel.ROW_ID_ATTRIBUTE) != row_id:
                continue
            tick = sel.TICK.find(row)
            if tick is None:
                return None
            return sel.tick_status(sel.element_attribute(tick, "data-icon"), sel.element_attribute(tick, "aria-label"))
    except WebDriverException as exc:
        log.debug("reading ticks of %s failed: %s", row_id, exc)
    return None


def open_chat_for_row(driver: WebDriver, base_url: str, row_id: str, timeout_s: float, stop: threading.Event) -> None:
    """Make sure the chat holding `row_id` is open (opening it only when that row is not on the page)."""
    if read_row_status(driver, row_id) is not None:
        return
    digits = sel.phone_of_row_id(row_id)
    if digits is None:
        raise SendError(f"cannot tell the chat of message {row_id}", permanent=True)
    open_url(driver, send_url(base_url, digits))
    wait_for_first(driver, (sel.COMPOSER, sel.INVALID_NUMBER_DIALOG), timeout_s, stop)
    deadline = time.monotonic() + min(timeout_s, 5.0)
    while read_row_status(driver, row_id) is None and time.monotonic() < deadline:
        if stop.wait(POLL_S):
            return
