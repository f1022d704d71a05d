# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""A user fixes a WhatsApp Web selector without a new release: `<data dir>/whatsapp-selectors.json` overrides
built-in selectors by name; a bad file is refused at start with a sentence naming the problem. Real headless
Chromium against the fake WhatsApp Web page."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.channels.base import OutboundMessage, SendError
from backend.channels.whatsapp import WhatsAppChannel, selector_file
from backend.channels.whatsapp import selectors as sel
from tests.fakes.whatsapp_web import StatusRecorder, leftover_browser_processes, wait_until, whatsapp_context
from tests.fakes.whatsapp_web.fixtures import chromium_paths, fake_whatsapp_web  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def builtin_selectors() -> Iterator[None]:
    yield
    sel.use_overrides({})  # what a test put in force never leaks into the next one


def write(data_dir: Path, content: object) -> None:
    text = content if isinstance(content, str) else json.dumps(content)
    (data_dir / sel.OVERRIDES_FILE).write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    ("content", "sentence"),
    [
        ('{"message box": [', "whatsapp-selectors.json is not valid JSON (line 1, column 18)."),
        (["div"], 'whatsapp-selectors.json must hold an object like {"message box": ["css selector"]}.'),
        ({"chat box": "div"}, 'whatsapp-selectors.json: "chat box" is not a selector name (known names: "QR code"'),
        ({"send button": []}, 'whatsapp-selectors.json: "send button" must be a CSS selector or a non-empty list'),
        ({"send button": ["div[aria-label=Send"]}, "the selector 'div[aria-label=Send' for \"send button\" has an"),
        ({"message box": ["p { color: red }"]}, "contains { } or ;"),
    ],
)
def test_it_refuses_a_bad_selector_file_with_a_sentence_naming_the_problem(tmp_path, content, sentence):
    write(tmp_path, content)
    with pytest.raises(selector_file.SelectorFileError) as refused:
        selector_file.load_overrides(tmp_path / sel.OVERRIDES_FILE)
    assert sentence in str(refused.value)

    recorder = StatusRecorder()
    channel = WhatsAppChannel({}, {}, whatsapp_context(tmp_path, "http://127.0.0.1:9", recorder, ("/bin/true",) * 2))
    with pytest.raises(SendError) as verify:
        channel.verify()
    assert sentence in verify.value.reason


def test_it_refuses_at_connect_before_opening_whatsapp_web(tmp_path, fake_whatsapp_web, chromium_paths):
    write(tmp_path, '{"message box": [')
    recorder = StatusRecorder()
    channel = WhatsAppChannel({}, {}, whatsapp_context(tmp_path, fake_whatsapp_web.url, recorder, chromium_paths))
    channel.connect()
    recorder.wait_for_text(
        "Failed to initialize client: whatsapp-selectors.json is not valid JSON (line 1, column 18)."
    )
    assert recorder.states[-1] == "error"
    wait_until(lambda: not channel.session.running, what="the worker to end")
    assert fake_whatsapp_web.page_loads() == 0


def test_it_refuses_a_selector_the_browser_cannot_parse(tmp_path, fake_whatsapp_web, chromium_paths):
    write(tmp_path, {"message box": ["footer div:banana(1)"]})
    recorder = StatusRecorder()
    channel = WhatsAppChannel({}, {}, whatsapp_context(tmp_path, fake_whatsapp_web.url, recorder, chromium_paths))
    channel.connect()
    recorder.wait_for_text(
        "Failed to initialize client: whatsapp-selectors.json: the selector 'footer div:banana(1)' "
        'for "message box" is not valid CSS.'
    )
    wait_until(lambda: not channel.session.running, what="the worker to end")
    assert fake_whatsapp_web.page_loads() == 0
    assert leftover_browser_processes(channel.profile_dir) == []


def test_it_sends_again_once_the_user_overrides_the_selectors_that_changed(tmp_path, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    fake.configure(mode="changed")  # the box and its button moved out of the footer and were renamed
    write(
        tmp_path,
        {"message box": ["section div.composer-v2"], "send button": ['section button[aria-label="Submit"]']},
    )
    recorder = StatusRecorder()
    channel = WhatsAppChannel({}, {}, whatsapp_context(tmp_path, fake.url, recorder, chromium_paths))
    try:
        channel.connect()
        wait_until(lambda: channel.state == "qr", what="the QR")
        fake.scan()
        assert channel.wait_ready(15), recorder.texts()
        channel.send(OutboundMessage(id=1, account_id=1, channel="whatsapp", recipient="+15551250001", body="fixed"))
        assert fake.sent()[-1]["text"] == "fixed"
        assert sel.COMPOSER.css == ("section div.composer-v2",)
    finally:
        channel.close()
