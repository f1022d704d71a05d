"""Everything the WhatsApp channel knows about WhatsApp Web's page, in one place (DESIGN section 8).

When WhatsApp Web changes, this is the only module to edit, or a user overrides a selector without a new
release in `<data dir>/whatsapp-selectors.json` ({"message box": ["css", ...], ...}: names as below, each a
list of CSS selectors tried in order). Each `Selector` has a human name (shown to the user as "WhatsApp Web
changed: <name> not found") and CSS alternatives tried in order, newest first, preferring structure
(`data-icon`, `data-id`, roles, `data-*` markers) over words; dialogs and notices are told apart by what they
say (the page runs in `--lang=en-US`).

Where the shapes come from (2025-2026): wwebjs/whatsapp-web.js src/Client.js (QR container and retry button,
the loading screen's progress bar), landifrancesco/Whatsapp-Automator issue #4 (the Lexical composer, Nov
2025), Matt-Fontes/SendScriptWhatsApp PR #120 and 2025 Selenium bots (`wds-ic-send-filled`), public DOM dumps
of message rows (idofrizler/wdim tests, a December 2025 DOM reference guide: `div[role=row] > div[data-id]`
wrapper around `div.message-out`), wwebjs issues #270 / #625 ("Use here").
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.remote.webelement import WebElement

log = logging.getLogger(__name__)

OVERRIDES_FILE = "whatsapp-selectors.json"

_overrides: dict[str, tuple[str, ...]] = {}
_overrides_lock = threading.Lock()


@dataclass(frozen=True)
class Selector:
    """One thing on the page. `name` is what the user reads; `css` alternatives are tried in order."""

    name: str
    builtin: tuple[str, ...]
    text: re.Pattern[str] | None = None
    visible_only: bool = False

    @property
    def css(self) -> tuple[str, ...]:
        """The alternatives in use: the user's override for this name, else the built-in ones."""
        with _overrides_lock:
            return _overrides.get(self.name, self.builtin)

    def find_all(self, root: object) -> list[WebElement]:
        """Every match under `root` (a WebDriver or WebElement) for the first alternative that matches."""
        for css in self.css:
            try:
                found: list[WebElement] = root.find_elements("css selector", css)  # type: ignore[attr-defined]
                if self.text is not None:
                    found = [e for e in found if self.text.search(e.text or "")]
                if self.visible_only:
                    found = [e for e in found if e.is_displayed()]
            except StaleElementReferenceException:
                continue
            if found:
                return found
        return []

    def find(self, root: object) -> WebElement | None:
        found = self.find_all(root)
        return found[0] if found else None


_PROBE = """
const [specs, limit] = arguments;
return specs.map(([alts, withText]) => alts.map(css => {
  let found = [];
  try { found = Array.from(document.querySelectorAll(css)).slice(0, limit); } catch (e) { return []; }
  return found.map(e => [e, withText ? (e.innerText || "").slice(0, 4000) : "", e.getClientRects().length > 0]);
}));
"""


def probe(driver: object, selectors: tuple[Selector, ...], limit: int = 10) -> dict[str, list[WebElement]]:
    """What each selector finds on the page, all in ONE browser round trip (the idle worker looks at the page
    several times a second). Same rules as `Selector.find_all`: the first alternative with a match (after the
    text and visibility filters) wins. Returns name -> elements (empty when nothing matched)."""
    specs = [[list(s.css), s.text is not None] for s in selectors]
    raw = driver.execute_script(_PROBE, specs, limit)  # type: ignore[attr-defined]
    result: dict[str, list[WebElement]] = {}
    for selector, per_alternative in zip(selectors, raw or [], strict=False):
        result[selector.name] = []
        for found in per_alternative:
            kept = [
                element
                for element, text, visible in found
                if (selector.text is None or selector.text.search(text or ""))
                and (visible or not selector.visible_only)
            ]
            if kept:
                result[selector.name] = kept
                break
    return result


def element_attribute(element: WebElement, name: str) -> str | None:
    """The element's attribute, or None when it went away meanwhile."""
    try:
        return element.get_attribute(name)
    except (StaleElementReferenceException, WebDriverException):
        return None


_I = re.IGNORECASE

# -- login ------------------------------------------------------------------------------------------------
#: The QR code's container; its `data-ref` attribute is the QR payload (rotates about every 20 s). The canvas
#: inside says "Scan this QR code to link a device!".
QR_CODE = Selector("QR code", ("div[data-ref]", "[data-ref]"))
#: Shown inside the container instead of the QR after several rotations ("Click to reload QR code").
QR_RELOAD = Selector(
    "QR reload button",
    (
        "div[data-ref] > span > button",
        "div[data-ref] button",
        'button:has(span[data-icon="refresh-large"])',
        'span[data-icon="refresh-large"]',
        'span[data-icon="refresh-l-light"]',
    ),
)
#: The chat list: present whenever the session is logged in, also while a chat is open.
CHAT_LIST = Selector("chat list", ("#pane-side", 'div[aria-label="Chat list"]', 'div[data-testid="chat-list"]'))
#: The "Loading your chats" screen (after a scan or on a restored session): a progress bar that moves.
LOADING = Selector(
    "loading screen", ("progress", 'div[role="progressbar"]', 'div[data-testid="wa-web-loading-screen"]')
)

# -- pages and notices that stop everything ---------------------------------------------------------------
#: Every popup today: `data-animate-modal-popup`, often without role=dialog.
_POPUPS = ('div[data-animate-modal-popup="true"]', 'div[role="dialog"]')
CONFLICT_DIALOG = Selector(
    "open-in-another-window dialog",
    _POPUPS,
    text=re.compile(r"(open in another window|open on another (computer|browser)|click .?use here)", _I),
)
USE_HERE = Selector("Use here button", ("button", 'div[role="button"]'), text=re.compile(r"^\s*use here\s*$", _I))
UPDATE_PAGE = Selector(
    "update notice",
    ("#app", "body"),
    text=re.compile(
        r"(whatsapp web needs (to be updated|an update)|update whatsapp web|version .{0,40}(outdated|expired))", _I
    ),
)
UNSUPPORTED_PAGE = Selector(
    "unsupported-browser notice",
    ("#app", "body"),
    text=re.compile(
        r"(whatsapp works with google chrome|browser (is )?(not|no longer) supported|unsupported browser)", _I
    ),
)
#: The page says this number cannot send now (restricted, throttled) or at all (banned).
ACCOUNT_NOTICE = Selector(
    "account notice",
    (*_POPUPS, 'div[role="alert"]', 'span[data-testid="banner"]'),
    text=re.compile(
        r"(restricted right now|account is restricted|banned|not allowed to use whatsapp|can no longer use whatsapp|"
        r"too (quickly|fast)|too many (messages|requests)|temporarily (blocked|restricted|limited))",
        _I,
    ),
)
#: "Phone not connected" / "Computer not connected" banner at the top of the chat list.
CONNECTION_BANNER = Selector(
    "connection banner",
    (
        'div[role="button"]:has(> span[data-icon="alert-phone"])',
        'div[role="button"]:has(> span[data-icon="alert-computer"])',
        'div:has(> span[data-icon="alert-phone"])',
        'div:has(> span[data-icon="alert-computer"])',
    ),
)

# -- sending ----------------------------------------------------------------------------------------------
COMPOSER = Selector(
    "message box",
    (
        'footer div[contenteditable="true"][role="textbox"][data-lexical-editor="true"]',
        'footer div[contenteditable="true"][role="textbox"]',
        'footer div[contenteditable="true"]',
        'div[contenteditable="true"][data-tab="10"]',
    ),
)
#: Exists only while the composer holds text (a microphone shows otherwise).
SEND_BUTTON = Selector(
    "send button",
    (
        'footer button[aria-label="Send"]',
        'footer button:has(span[data-icon="wds-ic-send-filled"])',
        'footer div[role="button"]:has(span[data-icon="wds-ic-send-filled"])',
        'span[data-icon="wds-ic-send-filled"]',
        'span[data-icon="send"]',
    ),
)
MICROPHONE = Selector("microphone button", ('span[data-icon="mic-outlined"]', 'span[data-icon="ptt"]'))
#: "Phone number shared via url is invalid." -> the number is not on WhatsApp.
INVALID_NUMBER_DIALOG = Selector(
    "invalid-number dialog",
    _POPUPS,
    text=re.compile(r"(phone number shared via url is invalid|isn.t on whatsapp|not on whatsapp)", _I),
)
DIALOG_OK = Selector("OK button", ("button", 'div[role="button"]'), text=re.compile(r"^\s*ok\s*$", _I))
#: Closes whatever lies over the page and catches clicks (tooltips, "what's new" popups).
OVERLAY_CLOSE = Selector(
    "overlay close button",
    ('div[data-animate-modal-popup="true"] button[aria-label="Close"]', 'button[aria-label="Close"]'),
)

# -- the message after it is sent -------------------------------------------------------------------------
#: One row per message; the id sits on a wrapper `div[data-id]` inside it, around `div.message-out`.
MESSAGE_ROW = Selector("message row", ('div[role="row"]', 'div[role="listitem"]'))
MESSAGE_ID = Selector("message id", ("div[data-id]", "[data-id]"))
OUTGOING = Selector("outgoing message", ("div.message-out", '[class*="message-out"]'))
INCOMING = Selector("incoming message", ("div.message-in", '[class*="message-in"]'))
MESSAGE_TEXT = Selector("message text", ("span.selectable-text.copyable-text", "span.selectable-text"))
ROW_ID_ATTRIBUTE = "data-id"
TICK = Selector(
    "message status tick",
    ('span[data-icon^="msg-"]', 'span[data-icon^="status-"]'),
)
TICK_PENDING = ("msg-time", "status-time")
TICK_SENT = ("msg-check", "status-check")
TICK_DELIVERED = ("msg-dblcheck", "status-dblcheck", "msg-dblcheck-ack")
TICK_FAILED = ("msg-error", "status-error")
#: A double tick is "read" when its label says so (" Read "); the blue colour is not readable in CSS alone.
READ_LABEL = re.compile(r"\bread\b", _I)

# -- incoming messages ------------------------------------------------------------------------------------
#: One chat in the chat list; an unread one holds a badge "N unread messages".
CHAT_ITEM = Selector("chat list item", ('#pane-side div[role="listitem"]', '#pane-side div[role="row"]'))
UNREAD_BADGE = Selector("unread badge", ('span[aria-label*="unread message"]', 'span[aria-label*="Unread" i]'))
CHAT_TITLE = Selector("chat title", ('span[dir="auto"][title]', "span[title]"))
#: The title of the chat that is open.
OPEN_CHAT_TITLE = Selector("open chat title", ('#main header span[dir="auto"][title]', "#main header span[title]"))
#: "[10:54, 30/11/2026] +1 555 0100: " before each message's text: its time and sender.
MESSAGE_META_ATTRIBUTE = "data-pre-plain-text"

#: Every selector a user may override, by name.
ALL: tuple[Selector, ...] = (
    QR_CODE,
    QR_RELOAD,
    CHAT_LIST,
    LOADING,
    CONFLICT_DIALOG,
    USE_HERE,
    UPDATE_PAGE,
    UNSUPPORTED_PAGE,
    ACCOUNT_NOTICE,
    CONNECTION_BANNER,
    COMPOSER,
    SEND_BUTTON,
    MICROPHONE,
    INVALID_NUMBER_DIALOG,
    DIALOG_OK,
    OVERLAY_CLOSE,
    MESSAGE_ROW,
    MESSAGE_ID,
    OUTGOING,
    INCOMING,
    MESSAGE_TEXT,
    TICK,
    CHAT_ITEM,
    UNREAD_BADGE,
    CHAT_TITLE,
    OPEN_CHAT_TITLE,
)
BY_NAME = {s.name: s for s in ALL}


def tick_status(icon: str | None, label: str | None) -> str | None:
    """Map a tick icon (and its aria-label) to `pending` `sent` `delivered` `read` `failed`, None if unknown."""
    if icon in TICK_PENDING:
        return "pending"
    if icon in TICK_SENT:
        return "sent"
    if icon in TICK_DELIVERED:
        return "read" if label and READ_LABEL.search(label) else "delivered"
    if icon in TICK_FAILED:
        return "failed"
    return None


# -- the user's overrides ---------------------------------------------------------------------------------
class SelectorFileError(Exception):
    """whatsapp-selectors.json cannot be used; the message says what is wrong, in one sentence."""


_BRACKETS = {"[": "]", "(": ")"}


def _css_problem(css: str) -> str | None:
    """A reason this cannot be a CSS selector, None when it looks like one (the browser checks it fully)."""
    if not css.strip():
        return "is empty"
    if any(c in css for c in "{};"):
        return "contains { } or ; (a selector, not a style rule, is expected)"
    stack: list[str] = []
    quote: str | None = None
    for c in css:
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in _BRACKETS:
            stack.append(_BRACKETS[c])
        elif c in ")]" and (not stack or stack.pop() != c):
            return f"has an unmatched {c!r}"
    if quote or stack:
        return "has an unclosed quote or bracket"
    return None


def load_overrides(path: Path) -> dict[str, tuple[str, ...]]:
    """Read and check `path` ({"<selector name>": ["css", ...] or "css"}); {} when there is no such file.

    Raises SelectorFileError naming the problem (bad JSON, unknown name, not a list of selectors, a selector
    that cannot be CSS)."""
    if not path.exists():
        return {}
    where = path.name
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SelectorFileError(f"{where} cannot be read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise SelectorFileError(f"{where} is not valid JSON (line {exc.lineno}, column {exc.colno}).") from exc
    if not isinstance(raw, dict):
        raise SelectorFileError(f'{where} must hold an object like {{"message box": ["css selector"]}}.')
    result: dict[str, tuple[str, ...]] = {}
    for name, value in raw.items():
        if name not in BY_NAME:
            known = ", ".join(f'"{n}"' for n in BY_NAME)
            raise SelectorFileError(f'{where}: "{name}" is not a selector name (known names: {known}).')
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise SelectorFileError(f'{where}: "{name}" must be a CSS selector or a non-empty list of them.')
        for css in values:
            problem = _css_problem(css)
            if problem:
                raise SelectorFileError(f'{where}: the selector {css!r} for "{name}" {problem}.')
        result[name] = tuple(v.strip() for v in values)
    return result


def use_overrides(overrides: dict[str, tuple[str, ...]]) -> None:
    """Make these the overrides in force (replacing any earlier ones); {} restores the built-in selectors."""
    with _overrides_lock:
        _overrides.clear()
        _overrides.update(overrides)
    if overrides:
        log.info("WhatsApp selectors overridden by %s: %s", OVERRIDES_FILE, ", ".join(sorted(overrides)))
