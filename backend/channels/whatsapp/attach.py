"""Sending one file with its caption through WhatsApp Web's attach menu (DESIGN section 15).

The flow, on both page generations: open the chat, click the attach button (2026 `plus-rounded`, 2025 `clip`),
find the hidden file input (media: `accept` holding `image/`; documents: `accept="*"`); in 2026 the input mounts
only once the menu item ("Photos & videos" / "Document") is clicked, and that click opens the operating system's
file chooser, which the DevTools command `Page.setInterceptFileChooserDialog` suppresses (the file is then set on
the mounted input with `send_keys`, which needs no chooser). Then the caption goes into the preview's caption
box and its send button is clicked; the send is done when the new row's clock becomes a tick, as for text.

A missing attach control is a channel error ("WhatsApp Web changed: the attach button was not found"): the
message goes back to the queue and the channel says what changed. Large files upload slowly: the caller gives
the send a budget that grows with the file's size (`upload_budget_s`).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from backend.channels.base import Attachment, SendError
from backend.channels.whatsapp import selectors as sel
from backend.channels.whatsapp.pages import POLL_S, click, wait_for_first
from backend.channels.whatsapp.rows import read_rows
from backend.channels.whatsapp.sending import (
    _OPENED,
    SendTimeouts,
    Sent,
    _refuse_unless_composer,
    _wait_for_new_row,
    _wait_until_sent,
    open_url,
    phone_digits,
    refuse_notices,
    send_url,
)

#: how fast a file is assumed to upload at worst (bytes a second) when the send's budget grows with its size.
SLOWEST_UPLOAD_BPS = 128 * 1024


def upload_budget_s(attachment: Attachment) -> float:
    """Extra seconds a send may take for this file (nothing for a small one)."""
    return attachment.size / SLOWEST_UPLOAD_BPS


def _changed(what: str) -> SendError:
    # An outage of the channel, not this message's fault: it goes back to the queue without using an attempt.
    return SendError(f"WhatsApp Web changed: the {what} was not found", outage=True)


def _wait_for(driver: WebDriver, selector: sel.Selector, timeout_s: float, stop: threading.Event) -> WebElement | None:
    deadline = time.monotonic() + timeout_s
    while True:
        found = selector.find(driver)
        if found is not None or time.monotonic() >= deadline:
            return found
        if stop.wait(POLL_S):
            raise SendError("WhatsApp client stopped")


def _file_input(driver: WebDriver, document: bool, timeouts: SendTimeouts, stop: threading.Event) -> WebElement:
    """The menu's file input for this kind of file, clicking its menu item first where the input mounts late."""
    button = _wait_for(driver, sel.ATTACH_BUTTON, timeouts.element_s, stop)
    if button is None:
        raise _changed("attach button")
    if not click(driver, button, timeouts.element_s, stop):
        raise SendError("WhatsApp Web did not let the attach button be clicked (something covers it)")
    wanted = sel.DOCUMENT_INPUT if document else sel.MEDIA_INPUT
    found = _wait_for(driver, wanted, 1.0, stop)  # 2025: the inputs are in the menu already
    if found is not None:
        return found
    item = _wait_for(driver, sel.ATTACH_DOCUMENT_ITEM if document else sel.ATTACH_MEDIA_ITEM, timeouts.element_s, stop)
    if item is None:
        raise _changed("document menu item" if document else "photos and videos menu item")
    click(driver, item, timeouts.element_s, stop)
    found = _wait_for(driver, wanted, timeouts.element_s, stop)
    if found is None:
        raise _changed(wanted.name)
    return found


def _type_caption(box: WebElement, caption: str) -> None:
    for index, line in enumerate(caption.split("\n")):
        if index:
            box.send_keys(Keys.SHIFT, Keys.ENTER)
        if line:
            box.send_keys(line)


def send_attachment(
    driver: WebDriver,
    base_url: str,
    recipient: str,
    caption: str,
    attachment: Attachment,
    timeouts: SendTimeouts,
    stop: threading.Event,
) -> Sent:
    """Send `attachment` with `caption` to `recipient` and wait until WhatsApp shows it left (clock -> tick).

    Raises as `sending.send_message` does; SendError(outage) when an attach control is missing (nothing left)."""
    digits = phone_digits(recipient)
    source = attachment.path
    if source is None or not source.is_file():
        raise SendError(f"the attached file {attachment.filename} is not on this computer", permanent=True)
    open_url(driver, send_url(base_url, digits))
    found, element = wait_for_first(driver, _OPENED, timeouts.element_s, stop, loading_s=timeouts.loading_s)
    _refuse_unless_composer(driver, found, element)
    refuse_notices(driver)
    shown = read_rows(driver)
    before = {row.row_id for row in shown if row.outgoing}
    document = attachment.as_document or attachment.kind not in ("image", "video")
    with tempfile.TemporaryDirectory(prefix="bulkmsg-wa-") as folder:
        # The page shows the file's name: the library keeps files under their hash, so a copy carries the name.
        named = Path(folder) / Path(attachment.filename).name
        shutil.copyfile(source, named)
        _intercept_chooser(driver, True)
        try:
            _file_input(driver, document, timeouts, stop).send_keys(str(named))
            box = _wait_for(driver, sel.CAPTION_BOX, timeouts.element_s, stop)
            if box is None:
                raise _changed("caption box")
            if caption.strip():
                _type_caption(box, caption)
            send = _wait_for(driver, sel.PREVIEW_SEND_BUTTON, timeouts.element_s, stop)
            if send is None:
                raise _changed("preview send button")
            if not click(driver, send, timeouts.element_s, stop):
                raise SendError("WhatsApp Web did not let the file be sent (something covers the send button)")
        finally:
            _intercept_chooser(driver, False)
        extra = upload_budget_s(attachment)
        row_id = _wait_for_new_row(driver, before, timeouts.element_s + extra, stop)
        _wait_until_sent(driver, row_id, timeouts.sent_s + extra, stop)
    return Sent(row_id, new_chat=not shown)


def _intercept_chooser(driver: WebDriver, enabled: bool) -> None:
    """While on, a page's `input.click()` opens no operating-system file chooser (Chromium's DevTools)."""
    try:
        driver.execute_cdp_cmd("Page.enable", {})
        driver.execute_cdp_cmd("Page.setInterceptFileChooserDialog", {"enabled": enabled})
    except (WebDriverException, AttributeError):
        if enabled:
            raise SendError("the browser cannot hold back its file chooser (a Chromium is needed)") from None
