"""Sending one message on WhatsApp Web's page and waiting until the page shows it left (DESIGN section 8).

Every wait has a deadline; an element the flow needs that does not show up in time raises `PageChanged` naming
it. Works on both page generations: the new row is the one that was not there before the send, found by
`rows.read_outgoing` (2025 `div.message-out`, 2026 our "You:" label or status).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import quote

from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    TimeoutException,
)
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from backend.channels.base import SendError
from backend.channels.whatsapp import selectors as sel
from backend.channels.whatsapp.pages import (
    CONFLICT_TEXT,
    POLL_S,
    WAIT_RETRY_S,
    PageChanged,
    click,
    close_dialog,
    says,
    wait_for_first,
)
from backend.channels.whatsapp.rows import read_outgoing, read_row_status, read_rows

log = logging.getLogger(__name__)

#: how long the send button may take to replace the microphone once the box holds text.
SEND_BUTTON_WAIT_S = 5.0


class NewChatsRestricted(SendError):
    """The page replaced the message box of a NEW chat by its restriction bar: this number cannot start chats
    now (existing chats still send). The campaign pauses with the page's words; the message stays queued."""

    def __init__(self, words: str) -> None:
        super().__init__(words, pause_campaign=True)


@dataclass(frozen=True)
class SendTimeouts:
    element_s: float = 30.0  # each element on the way (composer, dialog, new message row, a clickable button)
    sent_s: float = 60.0  # clock icon -> single tick
    loading_s: float = 60.0  # longest extra wait for a "Loading your chats" bar that still moves, per send

    def longest_s(self, page_load_s: float) -> float:
        """The longest one send can take: page load, the loading screen, the composer and its text, the
        button (found, then clicked through overlays), the new row, the tick."""
        return page_load_s + self.loading_s + 4 * self.element_s + SEND_BUTTON_WAIT_S + self.sent_s


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


_OPENED = (
    sel.COMPOSER,
    sel.RESTRICTION_BAR,
    sel.INVALID_NUMBER_DIALOG,
    sel.ACCOUNT_NOTICE,
    sel.CONFLICT_DIALOG,
    sel.QR_CODE,
)


@dataclass(frozen=True)
class Sent:
    row_id: str  # the provider id: the `data-id` of the row that was not there before the send
    new_chat: bool  # the chat held no message before (a restriction of new chats is over once one sends)


def send_message(
    driver: WebDriver, base_url: str, recipient: str, text: str, timeouts: SendTimeouts, stop: threading.Event
) -> Sent:
    """Send `text` to `recipient` and wait until WhatsApp shows it left (clock -> tick).

    Raises SendError(permanent) "not registered" for the invalid-number popup (closed, so the next send works);
    NewChatsRestricted (pause_campaign) for the restriction bar of a new chat; SendError(pause_campaign) when the
    page says the number is restricted, throttled or banned, the session is open in another window or logged
    out; PageChanged before anything was sent; SendError (transient) when the send button could not be clicked
    (nothing left); SendError(uncertain) once the button was pressed but the page did not confirm the send."""
    digits = phone_digits(recipient)
    if not text.strip():
        raise SendError("empty message", permanent=True)
    open_url(driver, send_url(base_url, digits, text))
    found, element = wait_for_first(driver, _OPENED, timeouts.element_s, stop, loading_s=timeouts.loading_s)
    _refuse_unless_composer(driver, found, element)
    composer = element
    _wait_for_prefilled_text(composer, timeouts.element_s, stop)
    refuse_notices(driver)
    shown = read_rows(driver)
    before = {row.row_id for row in shown if row.outgoing}
    _press_send(driver, composer, timeouts.element_s, stop)
    row_id = _wait_for_new_row(driver, before, timeouts.element_s, stop)
    _wait_until_sent(driver, row_id, timeouts.sent_s, stop)
    return Sent(row_id, new_chat=not shown)


def refuse_notices(driver: WebDriver) -> None:
    """Raise SendError(pause_campaign) when the open chat shows an account notice (restricted, banned) or the
    session is open in another window: nothing is sent then."""
    notice = sel.ACCOUNT_NOTICE.find(driver)
    if notice is not None:
        raise SendError(says(notice), pause_campaign=True)
    if sel.CONFLICT_DIALOG.find(driver) is not None:
        raise SendError(CONFLICT_TEXT, pause_campaign=True, retry_after=WAIT_RETRY_S)


def _refuse_unless_composer(driver: WebDriver, found: sel.Selector, element: WebElement) -> None:
    """Raise the error for whatever the chat showed instead of its message box (nothing was sent)."""
    if found is sel.INVALID_NUMBER_DIALOG:
        close_dialog(driver, element)
        raise SendError("not registered", permanent=True)
    if found is sel.RESTRICTION_BAR:
        raise NewChatsRestricted(says(element))
    if found is sel.QR_CODE:
        raise SendError("WhatsApp Web is logged out", pause_campaign=True, retry_after=WAIT_RETRY_S)
    if found is sel.CONFLICT_DIALOG:
        raise SendError(CONFLICT_TEXT, pause_campaign=True, retry_after=WAIT_RETRY_S)
    notice = element if found is sel.ACCOUNT_NOTICE else sel.ACCOUNT_NOTICE.find(driver)
    if notice is not None:
        raise SendError(says(notice), pause_campaign=True)


def composer_text(composer: WebElement) -> str:
    return (sel.element_attribute(composer, "innerText") or "").strip()


def _wait_for_prefilled_text(composer: WebElement, timeout_s: float, stop: threading.Event) -> None:
    """WhatsApp fills the box from the URL's text a moment after the chat opens; sending earlier sends nothing."""
    deadline = time.monotonic() + timeout_s
    while not composer_text(composer):
        if time.monotonic() >= deadline:
            raise SendError("WhatsApp Web did not fill in the message text")
        if stop.wait(POLL_S):
            raise SendError("WhatsApp client stopped")


def _press_send(driver: WebDriver, composer: WebElement, timeout_s: float, stop: threading.Event) -> None:
    """Click the send button (it shows once the box holds text); Enter in the box when there is none.
    Raises SendError (transient: nothing left) when the click never lands."""
    deadline = time.monotonic() + SEND_BUTTON_WAIT_S
    button = sel.SEND_BUTTON.find(driver)
    while button is None and time.monotonic() < deadline:
        if stop.wait(POLL_S):
            raise SendError("WhatsApp client stopped")
        button = sel.SEND_BUTTON.find(driver)
    if button is None:
        log.warning("WhatsApp Web: %s not found, pressing Enter in the message box", sel.SEND_BUTTON.name)
        try:
            composer.send_keys(Keys.ENTER)
            return
        except (ElementNotInteractableException, ElementClickInterceptedException) as exc:
            raise SendError("WhatsApp Web did not let the message be sent (something covers the page)") from exc
    if not click(driver, button, timeout_s, stop):
        if stop.is_set():
            raise SendError("WhatsApp client stopped")
        raise SendError("WhatsApp Web did not let the send button be clicked (something covers it)")


def _wait_for_new_row(driver: WebDriver, before: set[str], timeout_s: float, stop: threading.Event) -> str:
    """The id of the outgoing row that was not on the page before the send (the newest such row)."""
    deadline = time.monotonic() + timeout_s
    while True:
        new = [row.row_id for row in read_outgoing(driver) if row.row_id not in before]
        if new:
            return new[-1]
        if time.monotonic() >= deadline:
            break
        if stop.wait(POLL_S):
            raise SendError("WhatsApp client stopped after pressing send", uncertain=True)
    composer = sel.COMPOSER.find(driver)
    if composer is not None and composer_text(composer) and sel.SEND_BUTTON.find(driver) is not None:
        # The text is still in the box: nothing left, so this is safe to call failed.
        raise PageChanged(sel.SEND_BUTTON)
    raise SendError(f"WhatsApp Web changed: {sel.OUTGOING.name} not found after sending", uncertain=True)


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


def open_chat_for_row(
    driver: WebDriver, base_url: str, recipient: str, row_id: str, timeout_s: float, stop: threading.Event
) -> None:
    """Make sure the chat with `recipient` (which holds `row_id`) is open, opening it only when that row is not
    on the page. The chat is found from the recipient kept beside the id, never from the id itself."""
    if read_row_status(driver, row_id) is not None:
        return
    open_url(driver, send_url(base_url, phone_digits(recipient)))
    wait_for_first(driver, (sel.COMPOSER, sel.RESTRICTION_BAR, sel.INVALID_NUMBER_DIALOG), timeout_s, stop)
    deadline = time.monotonic() + min(timeout_s, 5.0)
    while read_row_status(driver, row_id) is None and time.monotonic() < deadline:
        if stop.wait(POLL_S):
            return
