# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""Files over WhatsApp (DESIGN section 15) in real headless Chromium against the fake page's attach menu, on
both page generations: a photo goes through the media input with its caption, a PDF through the document input
under its own name, the bytes that arrive are the file's, and a page without an attach button is a channel
error that names it (the message goes back to the queue)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from PIL import Image

from backend.channels.base import Attachment, OutboundMessage, SendError
from backend.channels.whatsapp import WhatsAppChannel
from tests.fakes.whatsapp_web import FakeConfig, FakeWhatsAppWeb, StatusRecorder, wait_until, whatsapp_context
from tests.fakes.whatsapp_web.fixtures import MARKUPS, chromium_paths  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

MEDIA_ACCEPT = "image/*,video/mp4,video/3gpp,video/quicktime"


@pytest.fixture(scope="module", params=MARKUPS, ids=[f"markup{m}" for m in MARKUPS])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeWhatsAppWeb]:
    with FakeWhatsAppWeb(startup_ms=50, markup=request.param) as server:
        yield server


@pytest.fixture(scope="module")
def channel(fake, chromium_paths, tmp_path_factory) -> Iterator[WhatsAppChannel]:
    data_dir: Path = tmp_path_factory.mktemp("whatsapp-attach")
    recorder = StatusRecorder()
    ch = WhatsAppChannel({}, {}, whatsapp_context(data_dir, fake.url, recorder, chromium_paths))
    ch.connect()
    wait_until(lambda: ch.state == "qr", what=f"the QR ({recorder.texts()})")
    fake.scan()
    assert ch.wait_ready(15)
    yield ch
    ch.close()


@pytest.fixture(autouse=True)
def fresh_page(fake, channel) -> None:
    fake.configure(**asdict(FakeConfig(startup_ms=50, markup=fake.state.config.markup)))
    if channel.state != "ready":
        channel.connect()
        assert channel.wait_ready(10), channel.state


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
