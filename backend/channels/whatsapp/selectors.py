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

Two generations of the page live side by side (the 2026 one is rolled out in stages, DESIGN section 8), so
each selector lists the 2026 shape first and the 2025 one after it:
- 2026 (public field notes and probes of July to September 2026: tinyhumansai/openhuman PR #1034, 2026-04-29,
  "`data-id` is ... now bare msgId hex. `span.selectable-text` is gone"; a public Italian DOM catalogue of
  2026-07-27 and 2026-08-09 (`#main [data-id]` = `data-testid="conv-msg-<id>"`, no message-in/out classes, ticks
  as aria-labels over `<svg><title>wds-ic-*`, `[data-testid='icon-unread-count']`, `div[role='tablist']`, 67-70
  chat rows rendered of 485); a public Brazilian test suite of 2026-09-08 (`wds-ic-delivered` is the SINGLE
  tick, the double tick `wds-ic-read` is grey when delivered and blue when read); a verbatim row captured on
  2026-08-26 (tests/fakes/whatsapp_web/real_rows_2026.html). The restriction bar's `block-message` and words are
  from DESIGN section 8 (which cites wppconnect-team/wa-js #3410, not found in the material searched here); the
  2026 send button is unconfirmed (Matt-Fontes/SendScriptWhatsApp changed its selector again in PR #135,
  2026-07-29): the 2025 alternatives and Enter stay.
- 2025: as listed above.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.remote.webelement import WebElement

from backend.channels.whatsapp.ticks import tick_status

__all__ = ["Selector", "probe", "tick_status"]

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
QR_CODE = Selector("QR code", ('div[data-testid="link-device-qr-code"][data-ref]', "div[data-ref]", "[data-ref]"))
#: Shown inside the container instead of the QR after several rotations ("Click to reload QR code").
QR_RELOAD = Selector(
    "QR reload button",
    (
        'div[data-testid="link-device-qr-code"] button',
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
#: 2026: "What's new on WhatsApp Web" over the chat list after login (Continue / Close): closed when it shows.
WHATS_NEW_DIALOG = Selector(
    "what's-new dialog",
    ('div[role="dialog"]', 'div[data-animate-modal-popup="true"]'),
    text=re.compile(r"what.s new on whatsapp", re.IGNORECASE),
)
WHATS_NEW_CLOSE = Selector(
    "what's-new close button",
    ('button[aria-label="Close"]', "button", 'div[role="button"]'),
    text=re.compile(r"^\s*(continue|close|ok|got it)?\s*$", re.IGNORECASE),
)
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
#: 2026, on NEW chats only, instead of the message box: "Your account on linked devices is restricted. You can't
#: start new chats right now." (existing chats still have their box).
RESTRICTION_BAR = Selector(
    "restriction bar",
    ('div[data-testid="block-message"]', '#main div[data-testid="block-message"]'),
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
#: One element per message carrying its id: 2026 `#main [data-id]` (also `data-testid="conv-msg-<id>"`), 2025 the
#: wrapper `div[data-id]` inside `div[role="row"]`, around `div.message-out`.
MESSAGE_ROW = Selector(
    "message row", ("#main [data-id]", '#main [data-testid^="conv-msg-"]', 'div[role="row"] [data-id]', "[data-id]")
)
MESSAGE_ID = Selector("message id", ("[data-id]",))
#: 2025 direction classes (gone in 2026: there a row is ours when it carries `OWN_LABEL` or a status tick).
OUTGOING = Selector("outgoing message", ("div.message-out", '[class*="message-out"]'))
INCOMING = Selector("incoming message", ("div.message-in", '[class*="message-in"]'))
#: "You:" before our own messages (2026; only on the first bubble of a run).
OWN_LABEL = Selector("own message label", ('span[aria-label="You:"]',))
MESSAGE_TEXT = Selector(
    "message text",
    (
        '[data-testid="selectable-text"]',
        "span.selectable-text.copyable-text",
        "span.selectable-text",
        "[data-pre-plain-text] span[dir]",
        "span[dir]:not([aria-hidden])",
    ),
)
ROW_ID_ATTRIBUTE = "data-id"
#: Every element that may say the ticks: 2026 an aria-label over `<svg><title>wds-ic-*`, 2025 `span[data-icon]`
#: `msg-*` (all alternatives are read, newest first; the first one that means a state wins).
TICK = Selector(
    "message status tick",
    ("[aria-label]:has(> svg > title)", 'span[data-icon^="msg-"]', 'span[data-icon^="status-"]', "svg:has(> title)"),
)

# -- incoming messages ------------------------------------------------------------------------------------
#: One chat in the chat list; an unread one holds a badge "N unread messages".
CHAT_ITEM = Selector("chat list item", ('#pane-side div[role="row"]', '#pane-side div[role="listitem"]'))
UNREAD_BADGE = Selector(
    "unread badge",
    (
        '[data-testid="icon-unread-count"]',
        'span[aria-label*="unread message"]',
        'span[aria-label*="Unread" i]',
    ),
)
CHAT_TITLE = Selector(
    "chat title", ('[data-testid="cell-frame-title"] span[title]', 'span[dir="auto"][title]', "span[title]")
)
#: The chat list's filters (All / Unread N / Favourites / Groups): the list renders about 70 chats, so unread
#: chats are listed through "Unread", wherever they sit in the whole list.
UNREAD_TAB = Selector(
    "Unread filter tab",
    ('div[role="tablist"] [role="tab"]', 'div[role="tablist"] button'),
    text=re.compile(r"^\s*unread\b", _I),
)
ALL_TAB = Selector(
    "All filter tab",
    ('div[role="tablist"] [role="tab"]', 'div[role="tablist"] button'),
    text=re.compile(r"^\s*all\s*$", _I),
)
#: The title of the chat that is open.
OPEN_CHAT_TITLE = Selector("open chat title", ('#main header span[dir="auto"][title]', "#main header span[title]"))
#: "[10:54, 30/11/2026] +1 555 0100: " before each message's text: its time and sender.
MESSAGE_META_ATTRIBUTE = "data-pre-plain-text"

# -- attachments (DESIGN section 15) -----------------------------------------------------------------------
#: Opens the attach menu: 2026 `plus-rounded`, 2025 `clip` (older pages: the element titled "Attach").
ATTACH_BUTTON = Selector(
    "attach button",
    ('footer button:has(span[data-icon="plus-rounded"])', 'span[data-icon="plus-rounded"]',
     'footer div[role="button"]:has(span[data-icon="clip"])', 'span[data-icon="clip"]', '[title="Attach"]'),
)  # fmt: skip
#: 2026: the menu item whose click mounts the media input (and opens the OS chooser, intercepted).
ATTACH_MEDIA_ITEM = Selector(
    "photos and videos menu item",
    ('button[role="menuitem"]', 'div[role="menuitem"]', 'li[role="button"]'),
    text=re.compile(r"photos\s*(&|and)\s*videos", _I),
)
ATTACH_DOCUMENT_ITEM = Selector(
    "document menu item",
    ('button[role="menuitem"]', 'div[role="menuitem"]', 'li[role="button"]'),
    text=re.compile(r"^\s*document\s*$", _I),
)
#: The hidden file inputs: media (accept holds `image/`) and documents (accept `*`).
MEDIA_INPUT = Selector("photos and videos file input", ('input[type="file"][accept*="image/"]',))
DOCUMENT_INPUT = Selector("document file input", ('input[type="file"][accept="*"]', 'input[type="file"]:not([accept])'))
#: The preview's caption box and its send button.
CAPTION_BOX = Selector(
    "caption box",
    ('[data-testid="media-caption-input-container"] div[contenteditable="true"]',
     'div[contenteditable="true"][aria-label="Add a caption"]'),
)  # fmt: skip
PREVIEW_SEND_BUTTON = Selector(
    "preview send button",
    ('div[role="button"][aria-label="Send"]:not(footer *)', 'span[data-icon="wds-ic-send-filled"]:not(footer *)',
     'span[data-icon="send"]:not(footer *)'),
)  # fmt: skip

#: Every selector a user may override, by name.
ALL: tuple[Selector, ...] = (
    QR_CODE,
    QR_RELOAD,
    CHAT_LIST,
    LOADING,
    WHATS_NEW_DIALOG,
    WHATS_NEW_CLOSE,
    CONFLICT_DIALOG,
    USE_HERE,
    UPDATE_PAGE,
    UNSUPPORTED_PAGE,
    ACCOUNT_NOTICE,
    CONNECTION_BANNER,
    COMPOSER,
    SEND_BUTTON,
    RESTRICTION_BAR,
    MICROPHONE,
    INVALID_NUMBER_DIALOG,
    DIALOG_OK,
    OVERLAY_CLOSE,
    MESSAGE_ROW,
    MESSAGE_ID,
    OUTGOING,
    INCOMING,
    OWN_LABEL,
    MESSAGE_TEXT,
    TICK,
    CHAT_ITEM,
    UNREAD_BADGE,
    CHAT_TITLE,
    OPEN_CHAT_TITLE,
    UNREAD_TAB,
    ALL_TAB,
    ATTACH_BUTTON,
    ATTACH_MEDIA_ITEM,
    ATTACH_DOCUMENT_ITEM,
    MEDIA_INPUT,
    DOCUMENT_INPUT,
    CAPTION_BOX,
    PREVIEW_SEND_BUTTON,
)
BY_NAME = {s.name: s for s in ALL}


# -- the user's overrides (read and checked by `selector_file`) ------------------------------------------
def use_overrides(overrides: dict[str, tuple[str, ...]]) -> None:
    """Make these the overrides in force (replacing any earlier ones); {} restores the built-in selectors."""
    with _overrides_lock:
        _overrides.clear()
        _overrides.update(overrides)
    if overrides:
        log.info("WhatsApp selectors overridden by %s: %s", OVERRIDES_FILE, ", ".join(sorted(overrides)))
