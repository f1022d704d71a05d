# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""A user fixes a WhatsApp Web selector without a new release: `<data dir>/whatsapp-selectors.json` overrides
built-in selectors by name; a bad file is refused at start with a sentence naming the problem. Real headless
Chromium against the fake WhatsApp Web page."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.channels.base import OutboundMessage, SendError
from backend.channels.whatsapp import WhatsAppChannel, selector_file
from backend.channels.whatsapp import selectors as sel
from tests.fakes.whatsapp_web import StatusRecorder, leftover_browser_processes, wait_until, whatsapp_context
from tests.fakes.whatsapp_web.fixtures import chromium_paths, fake_whatsapp_web  # noqa: F401 (fixtures)
from tests.test_whatsapp_api import Api

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


#: files a user (or an attacker who can write to the data directory) may leave behind: any of them is refused with
#: one sentence, never a 500, never a session stuck at "Starting WhatsApp client...".
HOSTILE_FILES = {
    "lists 100,000 deep": "[" * 100_000 + "]" * 100_000,
    "objects 100,000 deep": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "unclosed 100,000 deep": '{"message box": ' + "[" * 100_000,
    "a megabyte": '{"message box": ["' + "div " * 300_000 + '"]}',
    "an object for a selector": '{"message box": {"css": "div"}}',
    "a number": "42",
    "not UTF-8": b'{"message box": ["\xff\xfe"]}',
}


def _write_raw(data_dir: Path, content: str | bytes) -> None:
    data = content if isinstance(content, bytes) else content.encode("utf-8")
    (data_dir / sel.OVERRIDES_FILE).write_bytes(data)


@pytest.mark.parametrize("content", HOSTILE_FILES.values(), ids=HOSTILE_FILES.keys())
def test_it_refuses_a_hostile_selector_file_quickly_with_a_sentence(tmp_path, content):
    _write_raw(tmp_path, content)
    started = time.monotonic()
    with pytest.raises(selector_file.SelectorFileError) as refused:
        selector_file.load_overrides(tmp_path / sel.OVERRIDES_FILE)
    assert time.monotonic() - started < 2.0, "bounded work whatever the file holds"
    sentence = str(refused.value)
    assert sentence.startswith("whatsapp-selectors.json") and sentence.endswith(".") and "\n" not in sentence
    assert len(sentence) < 600


def test_it_answers_400_on_save_and_never_leaves_the_session_starting_with_a_deeply_nested_file(
    start_server, fake_whatsapp_web, chromium_paths
):
    fake = fake_whatsapp_web
    server = start_server(whatsapp_url=fake.url, chromium=chromium_paths[0], chromedriver=chromium_paths[1])
    api = Api(server.url, server.token)
    assert api.call("PUT", "/api/channels/whatsapp", json={}).status_code == 200
    data_dir = server.app.extensions["bulkmsg"].config.data_dir
    _write_raw(data_dir, "[" * 100_000 + "]" * 100_000)

    saved = api.call("PUT", "/api/channels/whatsapp", json={"daily_cap": 50})
    assert saved.status_code == 400, saved.text
    assert saved.json()["message"] == (
        "The WhatsApp settings were not saved: whatsapp-selectors.json is nested too deeply; it must hold an "
        'object like {"message box": ["css selector"]}.'
    )

    api.call("POST", "/api/channels/whatsapp/connect")
    failed = wait_until(
        lambda: [t for t in api.texts("channel.status") if t.startswith("Failed to initialize client")],
        what="the session to say why it did not start",
    )
    assert failed == ["Failed to initialize client: whatsapp-selectors.json is nested too deeply; it must hold an "
                      'object like {"message box": ["css selector"]}.']  # fmt: skip
    listed = {c["channel"]: c for c in api.call("GET", "/api/channels").json()}
    assert listed["whatsapp"]["state"] == "error", "not left at Starting WhatsApp client..."
    assert fake.page_loads() == 0


def test_it_lets_the_user_override_every_selector_of_the_2026_page_by_name(tmp_path):
    new_names = {
        "what's-new dialog": ['div[role="dialog"].news'],
        "restriction bar": ['footer div[data-testid="blocked-composer"]'],
        "own message label": ['span[aria-label="Me:"]'],
        "unread badge": ['[data-testid="unread-count"]'],
        "Unread filter tab": ['div[role="tablist"] button#unread'],
        "message row": ["#main div[data-msg-id]"],
        "message status tick": ["span[data-status]"],
    }
    write(tmp_path, new_names)
    overrides = selector_file.load_overrides(tmp_path / sel.OVERRIDES_FILE)
    sel.use_overrides(overrides)
    assert sel.RESTRICTION_BAR.css == ('footer div[data-testid="blocked-composer"]',)
    assert sel.UNREAD_TAB.css == ('div[role="tablist"] button#unread',)
    assert {name: list(css) for name, css in overrides.items()} == new_names
    sel.use_overrides({})
    assert sel.RESTRICTION_BAR.css[0] == 'div[data-testid="block-message"]', "the built-in one, newest first"


@pytest.mark.parametrize(
    ("icon", "label", "title", "blue", "status"),
    [
        (None, " Sent ", "wds-ic-delivered", False, "sent"),  # 2026, labelled
        (None, None, "wds-ic-delivered", False, "sent"),  # 2026, the svg alone: the SINGLE tick, never delivered
        (None, None, "wds-ic-read", False, "delivered"),  # the double tick, grey
        (None, None, "wds-ic-read", True, "read"),  # the double tick, blue
        (None, " Read ", "wds-ic-read", False, "read"),  # the label says so
        (None, " Pending ", None, False, "pending"),
        (None, " Entregado ", "wds-ic-read", False, "delivered"),  # another language: the icon decides
        ("msg-check", " Sent ", None, False, "sent"),  # 2025
        ("msg-dblcheck", " Delivered ", None, False, "delivered"),
        ("msg-dblcheck", " Leído ", "msg-dblcheck", False, "delivered"),
        ("msg-time", None, None, False, "pending"),
        (None, None, "tail-out", False, None),  # the bubble's tail is not a tick
    ],
)
def test_it_reads_ticks_from_the_label_first_and_the_icon_second(icon, label, title, blue, status):
    assert sel.tick_status(icon, label, title, blue) == status
