# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""Files over WhatsApp (DESIGN section 15) in real headless Chromium against the fake page's attach menu, on
both page generations: a photo goes through the media input with its caption, a PDF through the document input
under its own name, the bytes that arrive are the file's, and a page without an attach button is a channel
error that names it (the message goes back to the queue)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from backend.channels.base import Attachment, OutboundMessage, SendError
from tests.fakes.whatsapp_web.fixtures import chromium_paths  # noqa: F401 (fixture)

# One logged-in channel per page generation for the module, reset before each test, as the send tests have it.
from tests.test_whatsapp_send import channel, fake, fresh_page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

MEDIA_ACCEPT = "image/*,video/mp4,video/3gpp,video/quicktime"


def library_file(tmp_path: Path, data: bytes) -> Path:
    """A file stored as the media library stores it: under its hash, with no extension."""
    path = tmp_path / "9f2c1e0a"
    path.write_bytes(data)
    return path


def message(body: str, attachment: Attachment, message_id: int = 1) -> OutboundMessage:
    return OutboundMessage(id=message_id, account_id=1, channel="whatsapp", recipient="+14155550101", body=body,
                           attachments=(attachment,))  # fmt: skip


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "purple").save(out, "PNG")
    return out.getvalue()


def test_it_sends_a_photo_with_its_caption_through_the_media_input(fake, channel, tmp_path):
    data = png()
    photo = Attachment("table 4.png", "image/png", path=library_file(tmp_path, data), kind="image", size=len(data))
    row_id = channel.send(message("Your table is ready 🍽\nSee you soon", photo))
    sent = fake.sent()[-1]
    assert sent["row_id"] == row_id and sent["text"] == "Your table is ready 🍽\nSee you soon"
    media = sent["media"]
    assert (media["filename"], media["accept"], media["as_document"]) == ("table 4.png", MEDIA_ACCEPT, False)
    assert media["data"] == data


def test_it_sends_a_pdf_as_a_document_under_its_own_name(fake, channel, tmp_path):
    data = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
    pdf = Attachment("Menü März.pdf", "application/pdf", path=library_file(tmp_path, data), size=len(data))
    row_id = channel.send(message("This week's menu", pdf, message_id=2))
    sent = fake.sent()[-1]
    assert sent["row_id"] == row_id
    assert (sent["media"]["filename"], sent["media"]["accept"], sent["media"]["data"]) == ("Menü März.pdf", "*", data)


def test_it_names_a_missing_attach_button_and_sends_nothing(fake, channel, tmp_path):
    fake.configure(attach_button=False)
    before = len(fake.sent())
    data = png()
    photo = Attachment("a.png", "image/png", path=library_file(tmp_path, data), kind="image", size=len(data))
    with pytest.raises(SendError) as caught:
        channel.send(message("Hi", photo, message_id=3))
    assert caught.value.outage and "WhatsApp Web changed: the attach button was not found" in caught.value.reason
    assert len(fake.sent()) == before
