"""Everything the WhatsApp channel knows about WhatsApp Web's page, in one place (DESIGN section 8).

When WhatsApp Web changes, this is the only module to edit. Each `Selector` has a human name (shown to the
user as "WhatsApp Web changed: <name> not found") and CSS alternatives tried in order, newest first; some
also need the element's text to match a pattern (dialogs are told apart by what they say).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.remote.webelement import WebElement

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Selector:
    """One thing on the page. `name` is what the user reads; `css` alternatives are tried in order."""

    name: str
    css: tuple[str, ...]
    text: re.Pattern[str] | None = None
    visible_only: bool = False

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


def element_attribute(element: WebElement, name: str) -> str | None:
    """The element's attribute, or None when it went away meanwhile."""
    try:
        return element.get_attribute(name)
    except (StaleElementReferenceException, WebDriverException):
        return None


_I = re.IGNORECASE

# -- login ------------------------------------------------------------------------------------------------
#: The QR code's container; its `data-ref` attribute is the QR payload (rotates about every 20 s).
QR_CODE = Selector("QR code", ("div[data-ref]", "[data-ref]"))
#: Shown instead of the QR after several rotations ("Click to reload QR code").
QR_RELOAD = Selector(
    "QR reload button",
    (
        "div[data-ref] button",
        'button[aria-label*="reload" i]',
        'span[data-icon="refresh-large"]',
        'span[data-icon="refresh-l-light"]',
    ),
)
#: The chat list: present whenever the session is logged in, also while a chat is open.
CHAT_LIST = Selector("chat list", ("#pane-side", 'div[aria-label="Chat list"]', 'div[data-testid="chat-list"]'))
#: The "loading your chats" screen shown between a scan (or a restored session) and the chat list.
LOADING = Selector("loading screen", ("progress", 'div[role="progressbar"]', "#startup", 'div[data-testid="startup"]'))

# -- sending ----------------------------------------------------------------------------------------------
COMPOSER = Selector(
    "message box",
    (
        'footer div[contenteditable="true"]',
        'div[contenteditable="true"][data-tab="10"]',
        'div[contenteditable="true"][aria-label="Type a message"]',
    ),
)
SEND_BUTTON = Selector(
    "send button",
    ('button[aria-label="Send"]', 'span[data-icon="send"]', 'span[data-icon="wds-ic-send-filled"]'),
)
#: "Phone number shared via url is invalid." -> the number is not on WhatsApp.
INVALID_NUMBER_DIALOG = Selector(
    "invalid-number dialog",
    ('div[role="dialog"]', 'div[data-animate-modal-popup="true"]'),
    text=re.compile(r"(phone number shared via url is invalid|isn.t on whatsapp|not on whatsapp)", _I),
)
DIALOG_OK = Selector("OK button", ("button", 'div[role="button"]'), text=re.compile(r"^\s*ok\s*$", _I))
#: The page says this number cannot send now (throttled) or at all (banned): pause, never retry blindly.
BLOCKED_BANNER = Selector(
    "throttled or banned notice",
    (
        'div[role="dialog"]',
        'div[data-animate-modal-popup="true"]',
        'div[role="alert"]',
        'span[data-testid="banner"]',
    ),
    text=re.compile(
        r"(banned|not allowed to use whatsapp|can no longer use whatsapp|too (quickly|fast)|"
        r"too many (messages|requests)|temporarily (blocked|restricted|limited)|try again later)",
        _I,
    ),
)

# -- the message after it is sent -------------------------------------------------------------------------
#: Outgoing message rows; their `data-id` ("true_<jid>_<id>") is the provider message id.
OUTGOING_ROW = Selector("outgoing message", ("div.message-out", 'div[data-id^="true_"]'))
ROW_ID_ATTRIBUTE = "data-id"
TICK = Selector(
    "message status tick",
    ('span[data-icon^="msg-"]', 'span[data-icon="status-time"]', 'span[data-icon="status-check"]'),
)
TICK_PENDING = ("msg-time", "status-time")
TICK_SENT = ("msg-check", "status-check")
TICK_DELIVERED = ("msg-dblcheck", "status-dblcheck", "msg-dblcheck-ack")
TICK_FAILED = ("msg-error", "status-error")
#: A double tick is "read" when its label says so (" Read "); the blue colour is not readable in CSS alone.
READ_LABEL = re.compile(r"\bread\b", _I)


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


_ROW_PHONE = re.compile(r"^(?:true|false)_(\d+)@")


def phone_of_row_id(row_id: str) -> str | None:
    """The phone digits inside a message row id ("true_15551234567@c.us_3EB0..."), None if it has none."""
    match = _ROW_PHONE.match(row_id)
    return match.group(1) if match else None
