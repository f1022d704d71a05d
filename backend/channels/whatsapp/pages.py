"""What the channel does on WhatsApp Web's page: read what the page shows, send one message, read its ticks.

Every wait here has a deadline. When an element the flow needs does not show up in time, `PageChanged`
names it ("WhatsApp Web changed: message box not found"). Page knowledge comes from `selectors` only.
Message ids are opaque (`true_<n>@c.us_<hex>`, `true_<opaque>@lid_<hex>` or a bare hex): the recipient is
always kept beside the id, never read out of it.
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
    StaleElementReferenceException,
    TimeoutException,
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
#: how long the send button may take to replace the microphone once the box holds text.
SEND_BUTTON_WAIT_S = 5.0
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

    `kind`: `ready` (chat list; `banner` holds a connection warning's words when one shows), `qr` (with its
    payload), `reload` (the QR gave up rotating), `loading` (with the progress bar's value), `conflict` (open
    in another window; `element` is the Use here button), `notice` (restricted / banned: `words`, `element`
    the popup), `update`, `unsupported`, or `unknown` (splash, or something we do not know)."""

    kind: str
    qr_payload: str | None = None
    element: WebElement | None = None
    progress: float | None = None
    words: str | None = None
    banner: str | None = None


@dataclass(frozen=True)
class SendTimeouts:
    element_s: float = 30.0  # each element on the way (composer, dialog, new message row, a clickable button)
    sent_s: float = 60.0  # clock icon -> single tick
    loading_s: float = 60.0  # longest extra wait for a "Loading your chats" bar that still moves, per send

    def longest_s(self, page_load_s: float) -> float:
        """The longest one send can take: page load, the loading screen, the composer and its text, the
        button (found, then clicked through overlays), the new row, the tick."""
        return page_load_s + self.loading_s + 4 * self.element_s + SEND_BUTTON_WAIT_S + self.sent_s


def words_of(element: WebElement, limit: int = 200) -> str:
    """The element's visible text on one line, without a trailing button label ("OK")."""
    try:
        text = " ".join((element.text or "").split())
    except (StaleElementReferenceException, WebDriverException):
        return ""
    text = re.sub(r"\s*\b(OK|Close)\b\s*$", "", text)
    return text[:limit]


#: what one look at the page asks for (one browser round trip); the whole-page texts only when nothing matched.
_LOOK = (
    sel.CONFLICT_DIALOG,
    sel.CHAT_LIST,
    sel.ACCOUNT_NOTICE,
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
    provider id (the `data-id` of the row that was not there before the send).

    Raises SendError(permanent) "not registered" for the invalid-number popup (closed, so the next send works);
    SendError(pause_campaign) when the page says the number is restricted, throttled or banned, the session is
    open in another window or logged out; PageChanged before anything was sent; SendError (transient) when the
    send button could not be clicked (nothing left); SendError(uncertain) once the button was pressed but the
    page did not confirm the send in time."""
    digits = phone_digits(recipient)
    if not text.strip():
        raise SendError("empty message", permanent=True)
    open_url(driver, send_url(base_url, digits, text))
    found, element = wait_for_first(
        driver,
        (sel.COMPOSER, sel.INVALID_NUMBER_DIALOG, sel.ACCOUNT_NOTICE, sel.CONFLICT_DIALOG, sel.QR_CODE),
        timeouts.element_s,
        stop,
        loading_s=timeouts.loading_s,
    )
    if found is sel.INVALID_NUMBER_DIALOG:
        close_dialog(driver, element)
        raise SendError("not registered", permanent=True)
    if found is sel.QR_CODE:
        raise SendError("WhatsApp Web is logged out", pause_campaign=True, retry_after=WAIT_RETRY_S)
    if found is sel.CONFLICT_DIALOG:
        raise SendError(CONFLICT_TEXT, pause_campaign=True, retry_after=WAIT_RETRY_S)
    notice = element if found is sel.ACCOUNT_NOTICE else sel.ACCOUNT_NOTICE.find(driver)
    if notice is not None:
        raise SendError(says(notice), pause_campaign=True)
    composer = element
    _wait_for_prefilled_text(driver, composer, timeouts.element_s, stop)
    notice = sel.ACCOUNT_NOTICE.find(driver)
    if notice is not None:
        raise SendError(says(notice), pause_campaign=True)
    if sel.CONFLICT_DIALOG.find(driver) is not None:
        raise SendError(CONFLICT_TEXT, pause_campaign=True, retry_after=WAIT_RETRY_S)
    before = {row.row_id for row in read_outgoing(driver)}
    _press_send(driver, composer, timeouts.element_s, stop)
    row_id = _wait_for_new_row(driver, before, timeouts.element_s, stop)
    _wait_until_sent(driver, row_id, timeouts.sent_s, stop)
    return row_id


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
            log.info("WhatsApp Web: a click was caught by something over the page (%s)", _first_line(exc))
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


def _first_line(exc: WebDriverException) -> str:
    return ((exc.msg or "").strip().splitlines() or [type(exc).__name__])[0][:160]


def composer_text(composer: WebElement) -> str:
    return (sel.element_attribute(composer, "innerText") or "").strip()


def _wait_for_prefilled_text(driver: WebDriver, composer: WebElement, timeout_s: float, stop: threading.Event) -> None:
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


@dataclass(frozen=True)
class Row:
    """One message row as the page shows it."""

    row_id: str
    status: str | None
    text: str | None
    #: "[10:54, 30/11/2026] Sender: " as the page writes it before the text (None when it has none).
    meta: str | None = None

    @property
    def time(self) -> str | None:
        """The time and date the page shows for the message ("10:54, 30/11/2026"), as the page writes them."""
        match = re.match(r"\[([^\]]+)\]", self.meta or "")
        return match.group(1) if match else None


_READ_ROWS = """
const [kind, rowAlts, idAlts, msgAlts, tickAlts, textAlts, idAttr, metaAttr] = arguments;
const all = (root, alts) => { for (const c of alts) { try { const f = root.querySelectorAll(c);
  if (f.length) return Array.from(f); } catch (e) {} } return []; };
const up = (el, alts) => { for (const c of alts) { try { const f = el.closest(c); if (f) return f; } catch (e) {} }
  return null; };
const out = [];
for (const msg of all(document, msgAlts)) {
  const row = up(msg, rowAlts) || msg;
  let holder = up(msg, idAlts);
  if (!holder) holder = all(row, idAlts)[0] || null;
  const tick = all(row, tickAlts)[0];
  const text = all(row, textAlts)[0];
  const meta = row.querySelector("[" + metaAttr + "]");
  out.push([holder ? holder.getAttribute(idAttr) : null, tick ? tick.getAttribute("data-icon") : null,
            tick ? tick.getAttribute("aria-label") : null, text ? text.innerText : null,
            meta ? meta.getAttribute(metaAttr) : null]);
}
return out;
"""


def read_outgoing(driver: WebDriver) -> list[Row]:
    """Every outgoing message row on the page, in page order (one browser round trip)."""
    return _read_rows(driver, sel.OUTGOING)


def read_incoming(driver: WebDriver) -> list[Row]:
    """Every incoming message row on the page, in page order (status is None)."""
    return _read_rows(driver, sel.INCOMING)


def _read_rows(driver: WebDriver, messages: sel.Selector) -> list[Row]:
    raw = driver.execute_script(
        _READ_ROWS,
        messages.name,
        list(sel.MESSAGE_ROW.css),
        list(sel.MESSAGE_ID.css),
        list(messages.css),
        list(sel.TICK.css),
        list(sel.MESSAGE_TEXT.css),
        sel.ROW_ID_ATTRIBUTE,
        sel.MESSAGE_META_ATTRIBUTE,
    )
    rows = []
    for row_id, icon, label, text, meta in raw or []:
        if row_id:
            rows.append(Row(str(row_id), sel.tick_status(icon, label), text, meta))
    return rows


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


def read_row_status(driver: WebDriver, row_id: str) -> str | None:
    """`pending` `sent` `delivered` `read` `failed` for the row with this id, None if the page can't tell."""
    try:
        for row in read_outgoing(driver):
            if row.row_id == row_id:
                return row.status
    except WebDriverException as exc:
        log.debug("reading ticks of %s failed: %s", row_id, exc)
    return None


def open_chat_for_row(
    driver: WebDriver, base_url: str, recipient: str, row_id: str, timeout_s: float, stop: threading.Event
) -> None:
    """Make sure the chat with `recipient` (which holds `row_id`) is open, opening it only when that row is not
    on the page. The chat is found from the recipient kept beside the id, never from the id itself."""
    if read_row_status(driver, row_id) is not None:
        return
    open_url(driver, send_url(base_url, phone_digits(recipient)))
    wait_for_first(driver, (sel.COMPOSER, sel.INVALID_NUMBER_DIALOG), timeout_s, stop)
    deadline = time.monotonic() + min(timeout_s, 5.0)
    while read_row_status(driver, row_id) is None and time.monotonic() < deadline:
        if stop.wait(POLL_S):
            return


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
        log.debug("reading the open chat's title failed: %s", _first_line(exc))
        return None


_HAS_UNREAD = """
const [lists, badges] = arguments;
for (const l of lists) { let list; try { list = document.querySelector(l); } catch (e) { continue; }
  if (!list) continue;
  for (const b of badges) { try { if (list.querySelector(b)) return true; } catch (e) {} }
  return false; }
return false;
"""


def has_unread(driver: WebDriver) -> bool:
    """Whether the chat list shows an unread badge (one browser round trip; the cheap look before reading)."""
    return bool(driver.execute_script(_HAS_UNREAD, list(sel.CHAT_LIST.css), list(sel.UNREAD_BADGE.css)))


def read_new_incoming(
    driver: WebDriver, seen: set[str], timeout_s: float, stop: threading.Event
) -> list[IncomingMessage]:
    """Open each chat with an unread badge ("N unread messages") in the chat list and return its last N
    incoming rows whose ids are not in `seen`. Reads only; nothing is stored. Opening a chat is what marks it
    read on WhatsApp, as it does for a person."""
    unread: list[tuple[str, int]] = []
    for listed in sel.CHAT_ITEM.find_all(driver):
        badge = sel.UNREAD_BADGE.find(listed)
        title = sel.CHAT_TITLE.find(listed) if badge is not None else None
        if badge is None or title is None or not (name := sel.element_attribute(title, "title")):
            continue
        number = re.search(r"\d+", sel.element_attribute(badge, "aria-label") or badge.text or "")
        unread.append((name, int(number.group()) if number else 1))
    found: list[IncomingMessage] = []
    for name, count in unread:
        item = next(
            (
                i
                for i in sel.CHAT_ITEM.find_all(driver)
                if (t := sel.CHAT_TITLE.find(i)) is not None and sel.element_attribute(t, "title") == name
            ),
            None,
        )
        if item is None or not click(driver, item, timeout_s, stop):
            continue
        deadline = time.monotonic() + timeout_s
        while True:
            header = sel.OPEN_CHAT_TITLE.find(driver)
            if header is not None and sel.element_attribute(header, "title") == name:
                break
            if time.monotonic() >= deadline:
                raise PageChanged(sel.OPEN_CHAT_TITLE)
            if stop.wait(POLL_S):
                return found
        for row in _settled_rows(driver, stop)[-count:]:
            if row.row_id not in seen:
                found.append(IncomingMessage(name, row.text or "", row.row_id, row.time))
    return found


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
