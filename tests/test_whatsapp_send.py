# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""Sending over WhatsApp in real headless Chromium against the fake WhatsApp Web page (no WebDriver mocks).

One logged-in channel serves the whole module (a login costs a few seconds); each test resets the page.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from backend.channels.base import OutboundMessage, SendError
from backend.channels.whatsapp import WhatsAppChannel
from tests.fakes.whatsapp_web import FakeConfig, FakeWhatsAppWeb, StatusRecorder, wait_until, whatsapp_context
from tests.fakes.whatsapp_web.fixtures import chromium_paths  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

NOT_ON_WHATSAPP = "15550000000"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeWhatsAppWeb]:
    with FakeWhatsAppWeb(startup_ms=50, loading_ms=50) as server:
        yield server


@pytest.fixture(scope="module")
def channel(fake, chromium_paths, tmp_path_factory) -> Iterator[WhatsAppChannel]:
    data_dir: Path = tmp_path_factory.mktemp("whatsapp-send")
    recorder = StatusRecorder()
    ch = WhatsAppChannel({}, {}, whatsapp_context(data_dir, fake.url, recorder, chromium_paths))
    ch.connect()
    wait_until(lambda: ch.state == "qr", what=f"the QR ({recorder.texts()})")
    fake.scan()
    assert ch.wait_ready(15)
    yield ch
    ch.close()


@pytest.fixture(autouse=True)
def fresh_page(fake) -> None:
    defaults = asdict(FakeConfig(startup_ms=50, loading_ms=50, invalid_numbers=[NOT_ON_WHATSAPP]))
    fake.configure(**defaults)


def message(recipient: str, body: str, message_id: int = 1) -> OutboundMessage:
    return OutboundMessage(id=message_id, account_id=1, channel="whatsapp", recipient=recipient, body=body)


def test_it_sends_line_breaks_non_ascii_and_emoji_intact(fake, channel):
    body = "Hi Zoë,\nyour order №42 is ready 🎉👍🏽\n\n— Café Ünal 中文 עברית"
    provider_id = channel.send(message("+1 (555) 123-4567", body))

    arrived = fake.sent()[-1]
    assert arrived["phone"] == "15551234567"
    assert arrived["text"] == body
    assert provider_id == f"true_15551234567@c.us_{arrived['id']}"


def test_it_fails_a_number_not_on_whatsapp_and_the_next_send_still_works(fake, channel):
    before = len(fake.sent())
    with pytest.raises(SendError) as failure:
        channel.send(message(f"+{NOT_ON_WHATSAPP}", "Hello"))
    assert failure.value.reason == "not registered"
    assert failure.value.permanent and not failure.value.uncertain
    assert len(fake.sent()) == before

    channel.send(message("+15551230001", "after the dialog"))
    assert fake.sent()[-1]["text"] == "after the dialog"


def test_it_counts_a_message_as_sent_only_when_the_clock_becomes_a_tick(fake, channel):
    fake.configure(auto_sent_ms=None)  # the phone is slow: the clock stays until the test says otherwise
    result: dict[str, object] = {}

    def send() -> None:
        result["id"] = channel.send(message("+15551230002", "wait for the tick"))

    sender = threading.Thread(target=send)
    sender.start()
    arrived = wait_until(lambda: [m for m in fake.sent() if m["text"] == "wait for the tick"], what="the message")
    time.sleep(0.5)
    assert sender.is_alive(), "send() returned while the clock icon was still showing"
    fake.ack(arrived[0]["id"], "sent")
    sender.join(10)
    assert result["id"] == f"true_15551230002@c.us_{arrived[0]['id']}"


@contextmanager
def deadlines(channel: WhatsAppChannel, **changes: float) -> Iterator[None]:
    saved = channel.send_timeouts
    channel.send_timeouts = replace(saved, **changes)
    try:
        yield
    finally:
        channel.send_timeouts = saved


def test_it_calls_a_send_uncertain_when_the_tick_never_comes(fake, channel):
    fake.configure(auto_sent_ms=None)
    with deadlines(channel, sent_s=1.0), pytest.raises(SendError) as failure:
        channel.send(message("+15551230003", "stuck on the clock"))
    assert failure.value.uncertain, "it may have left: never re-send it automatically"
    assert failure.value.reason == "WhatsApp Web did not confirm the send within 1 s"
    assert fake.sent()[-1]["text"] == "stuck on the clock"


def test_it_reads_delivered_and_read_ticks_as_delivery_reports(fake, channel):
    provider_id = channel.send(message("+15551230004", "tick tock"))
    first = channel.fetch_delivery(provider_id)
    assert first is not None and (first.status, first.success) == ("sent", None)

    fake_id = fake.sent()[-1]["id"]
    fake.ack(fake_id, "delivered")
    channel.send(message("+15551230005", "another chat in between"))  # the ticks are read from the right chat
    delivered = wait_until(lambda: _status_is(channel, provider_id, "delivered"), what="delivered")
    assert delivered.provider == "whatsapp" and delivered.success is True
    assert delivered.provider_event_id == f"{provider_id}:delivered"

    fake.ack(fake_id, "read")
    read = wait_until(lambda: _status_is(channel, provider_id, "read"), what="read")
    assert read.success is True and read.provider_event_id == f"{provider_id}:read"


def test_it_opens_other_chats_for_ticks_only_now_and_then_so_sends_keep_the_browser(fake, channel):
    older = channel.send(message("+15551230011", "older"))
    newer = channel.send(message("+15551230012", "newer"))
    channel.send(message("+15551230013", "the chat now open"))
    channel._last_fetch_navigation = float("-inf")
    assert channel.fetch_delivery(older) is not None, "opens the older chat"
    started = time.monotonic()
    assert channel.fetch_delivery(newer) is None, "a second chat within fetch_interval_s waits for a later check"
    assert time.monotonic() - started < 1.0
    assert channel.fetch_delivery(older) is not None, "the chat on screen costs nothing"


def _status_is(channel: WhatsAppChannel, provider_id: str, status: str):
    report = channel.fetch_delivery(provider_id)
    return report if report is not None and report.status == status else None


@pytest.mark.parametrize(
    ("flag", "words"),
    [("throttled", "sending messages too quickly"), ("banned", "not allowed to use WhatsApp")],
)
def test_it_pauses_the_campaign_when_the_page_says_the_number_is_blocked(fake, channel, flag, words):
    before = len(fake.sent())
    fake.configure(**{flag: True})
    with pytest.raises(SendError) as failure:
        channel.send(message("+15551230006", "should not leave"))
    assert failure.value.pause_campaign and not failure.value.permanent
    assert words in failure.value.reason
    assert len(fake.sent()) == before


def test_it_names_the_missing_element_when_whatsapp_web_changed(fake, channel):
    fake.configure(mode="changed")
    before = len(fake.sent())
    outcomes = []
    for n in range(3):
        started = time.monotonic()
        with deadlines(channel, element_s=2.0), pytest.raises(SendError) as failure:
            channel.send(message(f"+1555123010{n}", "hello"))
        outcomes.append((failure.value, time.monotonic() - started))
    for error, elapsed in outcomes:
        assert error.reason == "WhatsApp Web changed: message box not found"
        assert 2.0 <= elapsed < 2.0 + 3.0, "bounded by the element deadline (2 s here), not hanging"
    assert [e.permanent for e, _ in outcomes] == [True, True, False]
    assert outcomes[2][0].pause_campaign, "the third in a row pauses the campaign instead of failing everyone"
    assert len(fake.sent()) == before

    fake.configure(mode="normal")
    channel.send(message("+15551230110", "fixed"))
    assert fake.sent()[-1]["text"] == "fixed"


def test_it_waits_for_a_slow_page_within_its_deadline(fake, channel):
    fake.configure(slow_ms=2500)
    started = time.monotonic()
    channel.send(message("+15551230007", "slow but fine"))
    assert time.monotonic() - started >= 2.5
    assert fake.sent()[-1]["text"] == "slow but fine"


def test_it_refuses_to_send_while_not_connected(tmp_path, fake, chromium_paths):
    idle = WhatsAppChannel({}, {}, whatsapp_context(tmp_path, fake.url, StatusRecorder(), chromium_paths))
    with pytest.raises(SendError) as failure:
        idle.send(message("+15551230008", "nobody home"))
    assert failure.value.pause_campaign
    assert failure.value.reason == "WhatsApp is not connected"
    assert idle.fetch_delivery("true_15551230008@c.us_X") is None
