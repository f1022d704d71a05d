"""Reading what people wrote to us from WhatsApp Web's page (DESIGN section 8 "Inbound"). Reads only; storing
belongs to backend/conversations/whatsapp_inbound.py.

The chat list renders only about 70 chats (it is virtualised), so an unread chat far down the list is not in the
page: the chats are listed through the "Unread" filter tab (`div[role="tablist"]`) when the page has one, and the
list is put back on "All" afterwards. Each unread chat is opened by its title and its last N incoming rows (N from
its badge, "N unread messages") are read with `rows.read_incoming` (2025 `div.message-in`, 2026 rows without our
"You:" label or status). Opening a chat marks it read on WhatsApp, as it does for a person.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from backend.channels.whatsapp import selectors as sel
from backend.channels.whatsapp.pages import POLL_S, PageChanged, click, first_line
from backend.channels.whatsapp.rows import Row, read_incoming

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncomingMessage:
    """A message someone sent us, as the page shows it."""

    chat: str  # the chat's title (a number like "+1 555 0100", or the contact's name)
    text: str
    message_id: str  # the row's data-id (opaque)
    time: str | None  # as the page writes it ("10:54, 30/11/2026")
    #: the sender's number (E.164) when the page lets us know it: see `WhatsAppChannel.sender_phone`.
    phone: str | None = None


#: A chat title that is a phone number: WhatsApp Web titles a chat with a number it has no name for by the
#: number itself, written internationally ("+1 555-012-3456", "+44 20 7946 0958"); a saved contact's chat is
#: titled by the name the phone's address book gives it, which says nothing about the number.
_NUMBER_TITLE = re.compile(r"\+[\d\s().\-\u00a0\u202f]{6,24}")


def phone_of_title(title: str) -> str | None:
    """The E.164 number a chat title shows ("+1 555-012-3456" -> "+15550123456"), None for a name."""
    text = title.strip().strip("\u202a\u202c\u200e\u200f")  # the page wraps numbers in direction marks
    if not _NUMBER_TITLE.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    return f"+{digits}" if 7 <= len(digits) <= 15 else None


def open_chat_title(driver: WebDriver) -> str | None:
    """The title in the open chat's header (a name, or the number when the chat has no name), or None."""
    try:
        header = sel.OPEN_CHAT_TITLE.find(driver)
        return (sel.element_attribute(header, "title") or None) if header is not None else None
    except WebDriverException as exc:
        log.debug("reading the open chat's title failed: %s", first_line(exc))
        return None


_HAS_UNREAD = """
const [lists, badges, tabs, tabWords] = arguments;
const words = new RegExp(tabWords, "i");
for (const t of tabs) { let found = []; try { found = document.querySelectorAll(t); } catch (e) { continue; }
  for (const tab of found) { const text = tab.innerText || "";
    if (words.test(text)) { const n = /\\d+/.exec(text); if (n && +n[0] > 0) return true; } } }
for (const l of lists) { let list; try { list = document.querySelector(l); } catch (e) { continue; }
  if (!list) continue;
  for (const b of badges) { try { if (list.querySelector(b)) return true; } catch (e) {} }
  return false; }
return false;
"""


def has_unread(driver: WebDriver) -> bool:
    """Whether any chat is unread: the Unread tab's count (it counts chats the list does not render) or a badge
    in the chat list. One browser round trip: the cheap look before reading."""
    words = sel.UNREAD_TAB.text.pattern if sel.UNREAD_TAB.text is not None else "unread"
    return bool(
        driver.execute_script(
            _HAS_UNREAD, list(sel.CHAT_LIST.css), list(sel.UNREAD_BADGE.css), list(sel.UNREAD_TAB.css), words
        )
    )


def read_new_incoming(
    driver: WebDriver, seen: set[str], timeout_s: float, stop: threading.Event
) -> list[IncomingMessage]:
    """Open each unread chat and return its last N incoming rows whose ids are not in `seen`."""
    tab = sel.UNREAD_TAB.find(driver)
    filtered = tab is not None and click(driver, tab, timeout_s, stop)
    try:
        unread = _unread_chats(driver, wait_s=min(timeout_s, 3.0) if filtered else 0.0, stop=stop)
        found: list[IncomingMessage] = []
        for name, count in unread:
            if not _open_chat(driver, name, timeout_s, stop):
                continue
            for row in _settled_rows(driver, stop)[-count:]:
                if row.row_id not in seen:
                    found.append(IncomingMessage(name, row.text or "", row.row_id, row.time))
        return found
    finally:
        if filtered:
            back = sel.ALL_TAB.find(driver)
            if back is not None:
                click(driver, back, timeout_s, None)


def _unread_chats(driver: WebDriver, wait_s: float, stop: threading.Event) -> list[tuple[str, int]]:
    """(title, unread count) of each listed chat with a badge; waits up to `wait_s` for the filtered list."""
    deadline = time.monotonic() + wait_s
    while True:
        unread: list[tuple[str, int]] = []
        for listed in sel.CHAT_ITEM.find_all(driver):
            badge = sel.UNREAD_BADGE.find(listed)
            title = sel.CHAT_TITLE.find(listed) if badge is not None else None
            if badge is None or title is None or not (name := sel.element_attribute(title, "title")):
                continue
            number = re.search(r"\d+", sel.element_attribute(badge, "aria-label") or badge.text or "")
            unread.append((name, int(number.group()) if number else 1))
        if unread or time.monotonic() >= deadline or stop.wait(POLL_S):
            return unread


def _chat_item(driver: WebDriver, name: str) -> WebElement | None:
    for item in sel.CHAT_ITEM.find_all(driver):
        title = sel.CHAT_TITLE.find(item)
        if title is not None and sel.element_attribute(title, "title") == name:
            return item
    return None


def _open_chat(driver: WebDriver, name: str, timeout_s: float, stop: threading.Event) -> bool:
    """Click the chat titled `name` in the list and wait until its header says so. False when it is gone."""
    item = _chat_item(driver, name)
    if item is None or not click(driver, item, timeout_s, stop):
        return False
    deadline = time.monotonic() + timeout_s
    while True:
        header = sel.OPEN_CHAT_TITLE.find(driver)
        if header is not None and sel.element_attribute(header, "title") == name:
            return True
        if time.monotonic() >= deadline:
            raise PageChanged(sel.OPEN_CHAT_TITLE)
        if stop.wait(POLL_S):
            return False


def _settled_rows(driver: WebDriver, stop: threading.Event) -> list[Row]:
    """The incoming rows once the chat stopped filling in (two looks in a row agree)."""
    rows = read_incoming(driver)
    for _ in range(20):
        if stop.wait(POLL_S * 2):
            break
        again = read_incoming(driver)
        if again == rows and rows:
            break
        rows = again
    return rows
