# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""Sending over WhatsApp in real headless Chromium against the fake WhatsApp Web page (no WebDriver mocks).

The fake is built like today's real page (tests/fakes/whatsapp_web/page.html says where each shape comes
from): the id on a wrapper div around div.message-out, ids of three shapes, earlier messages in the chat, the
Lexical composer filled from the URL with the microphone/send swap, popups without role=dialog.
One logged-in channel serves the whole module (a login costs a few seconds); each test resets the page.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from backend.channels.base import OutboundMessage, SendError
from backend.channels.whatsapp import WhatsAppChannel
from backend.channels.whatsapp.browser import BrowserConfig
from backend.channels.whatsapp.sending import SendTimeouts
from tests.fakes.whatsapp_web import FakeConfig, FakeWhatsAppWeb, StatusRecorder, wait_until, whatsapp_context
from tests.fakes.whatsapp_web.fixtures import MARKUPS, chromium_paths  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

NOT_ON_WHATSAPP = "15550000000"


@pytest.fixture(scope="module", params=MARKUPS, ids=[f"markup{m}" for m in MARKUPS])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeWhatsAppWeb]:
    """The page of each generation (one login per generation serves the whole module)."""
    with FakeWhatsAppWeb(startup_ms=50, markup=request.param) as server:
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
def fresh_page(fake, channel) -> None:
    defaults = asdict(FakeConfig(startup_ms=50, invalid_numbers=[NOT_ON_WHATSAPP], markup=fake.state.config.markup))
    fake.configure(**defaults)
    with fake.state.lock:
        fake.state.conflict = False
    if channel.state != "ready":  # a notice left by the test before: Connect closes it
        channel.connect()
        assert channel.wait_ready(10), channel.state


def message(recipient: str, body: str, message_id: int = 1) -> OutboundMessage:
    return OutboundMessage(id=message_id, account_id=1, channel="whatsapp", recipient=recipient, body=body)


def test_it_sends_line_breaks_non_ascii_and_emoji_intact(fake, channel):
    body = "Hi Zoë,\nyour order №42 is ready 🎉👍🏽\n\n— Café Ünal 中文 עברית"
    provider_id = channel.send(message("+1 (555) 123-4567", body))

    arrived = fake.sent()[-1]
    assert arrived["phone"] == "15551234567"
    assert arrived["text"] == body
    assert provider_id == arrived["row_id"]
    if fake.state.config.markup == "2025":
        assert provider_id == f"true_15551234567@c.us_{arrived['id']}"
    else:
        assert re.fullmatch(r"[0-9A-F]{20,32}", provider_id), "2026: a bare 20-32 character id"


@pytest.mark.parametrize("shape", ["c.us", "lid", "hex"])
def test_it_takes_the_new_row_id_of_every_shape_and_reads_its_ticks_from_the_recipient(fake, channel, shape):
    fake.configure(id_shape=shape)
    phone = {"c.us": "15551240001", "lid": "15551240002", "hex": "15551240003"}[shape]
    provider_id = channel.send(message(f"+{phone}", f"shape {shape}"))

    rows = fake.chat_rows(phone)
    earlier = [r["row_id"] for r in rows if r["earlier"]]
    assert len(earlier) == 2, "the chat opened with an incoming and an outgoing message"
    assert provider_id == rows[-1]["row_id"] and provider_id not in earlier, "the row that was not there before"
    if shape == "lid":
        assert "@lid_" in provider_id and phone not in provider_id, "a LID is not the phone number"
    if shape == "hex":
        assert "@" not in provider_id and "_" not in provider_id

    channel.send(message("+15551240099", "another chat in between"))  # the row is no longer on screen
    fake.ack(rows[-1]["id"], "delivered")
    channel._last_fetch_navigation = float("-inf")
    delivered = wait_until(lambda: _status_is(channel, provider_id, "delivered", f"+{phone}"), what="delivered")
    assert (delivered.provider, delivered.success) == ("whatsapp", True)
    fake.ack(rows[-1]["id"], "read")
    read = wait_until(lambda: _status_is(channel, provider_id, "read", f"+{phone}"), what="read")
    assert read.provider_event_id == f"{provider_id}:read"


def test_it_waits_for_the_composer_to_fill_and_the_send_button_to_replace_the_microphone(fake, channel):
    fake.configure(prefill_ms=1500)  # the chat opens with an empty box and a microphone for 1.5 s
    channel.send(message("+15551240010", "filled late"))
    assert fake.sent()[-1]["text"] == "filled late"


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
    assert result["id"] == arrived[0]["row_id"]


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


def _status_is(channel: WhatsAppChannel, provider_id: str, status: str, recipient: str | None = None):
    report = channel.fetch_delivery(provider_id, recipient)
    return report if report is not None and report.status == status else None


@pytest.mark.parametrize(
    ("flag", "words"),
    [
        ("throttled", "WhatsApp says: You're sending messages too quickly"),
        ("banned", "WhatsApp says: This account is not allowed to use WhatsApp"),
        ("restricted", "WhatsApp says: Your account is restricted right now"),
    ],
)
def test_it_pauses_the_campaign_when_the_page_says_the_number_is_blocked(fake, channel, flag, words):
    before = len(fake.sent())
    fake.configure(**{flag: True})
    with pytest.raises(SendError) as failure:
        channel.send(message("+15551230006", "should not leave"))
    assert failure.value.pause_campaign and not failure.value.permanent
    assert failure.value.reason.startswith(words)
    assert len(fake.sent()) == before
    wait_until(lambda: channel.state == "error", what="the channel's state to say so")
    assert channel.session._blocked and channel.session._blocked.startswith(words)


def test_it_waits_when_whatsapp_is_open_in_another_window_during_a_send(fake, channel):
    fake.open_elsewhere()
    before = len(fake.sent())
    with pytest.raises(SendError) as failure:
        channel.send(message("+15551230016", "not now"))
    assert failure.value.reason == "WhatsApp is open in another window"
    assert failure.value.pause_campaign and failure.value.retry_after, "the campaign waits and carries on by itself"
    assert len(fake.sent()) == before

    wait_until(lambda: channel.state == "conflict", what="the conflict state")
    channel.connect()  # takes the session back ("Use here")
    assert channel.wait_ready(10)
    assert fake.use_here_clicks() == 1
    channel.send(message("+15551230016", "now"))
    assert fake.sent()[-1]["text"] == "now"


def test_it_closes_an_overlay_that_catches_the_click(fake, channel):
    fake.configure(overlay_ms=60_000, overlay_escape=True)  # stays until Escape
    channel.send(message("+15551230017", "through the overlay"))
    assert fake.sent()[-1]["text"] == "through the overlay"


def test_it_waits_out_an_overlay_that_goes_by_itself(fake, channel):
    fake.configure(overlay_ms=1500, overlay_escape=False)
    channel.send(message("+15551230018", "after the overlay"))
    assert fake.sent()[-1]["text"] == "after the overlay"


def test_it_gives_a_retryable_error_and_sends_nothing_when_the_click_never_lands(fake, channel):
    fake.configure(overlay_ms=60_000, overlay_escape=False)
    before = len(fake.sent())
    with deadlines(channel, element_s=2.0), pytest.raises(SendError) as failure:
        channel.send(message("+15551230019", "blocked click"))
    error = failure.value
    assert not error.uncertain and not error.permanent, "nothing left: back to queued, never stuck in sending"
    assert error.reason == "WhatsApp Web did not let the send button be clicked (something covers it)"
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
    assert idle.fetch_delivery("true_15551230008@c.us_X", "+15551230008") is None


def test_it_reads_new_incoming_messages_from_unread_chats_without_storing_them(fake, channel):
    first = fake.receive("15551260001", "Hello there 👋\nsecond line")
    second = fake.receive("15551260002", "Are you open today?")
    wait_until(lambda: channel.session.run(lambda d, s: _unread_badges(d), 5) == 2, what="two unread badges")

    found = channel.read_incoming()
    by_id = {m.message_id: m for m in found}
    assert set(by_id) == {first, second}, "only the unread rows, not the chat's earlier messages"
    assert (by_id[first].chat, by_id[first].text) == ("+15551260001", "Hello there 👋\nsecond line")
    assert (by_id[second].chat, by_id[second].text) == ("+15551260002", "Are you open today?")
    assert all(re.fullmatch(r"\d\d:\d\d, \d\d/\d\d/\d{4}", m.time or "") for m in found)

    assert channel.read_incoming() == [], "nothing new"
    third = fake.receive("15551260001", "one more")
    wait_until(lambda: channel.session.run(lambda d, s: _unread_badges(d), 5) == 1, what="a new badge")
    assert [(m.message_id, m.text) for m in channel.read_incoming()] == [(third, "one more")]


def _unread_badges(driver) -> int:
    return len(driver.find_elements("css selector", '#pane-side span[aria-label*="unread message"]'))


def test_it_waits_for_a_loading_screen_that_moves_before_the_chat_opens(fake, channel):
    fake.configure(loading_tick_ms=300, loading_step=10)  # each page load syncs for 3 s, moving every 0.3 s
    with deadlines(channel, element_s=2.0):
        channel.send(message("+15551230021", "after a long sync"))
    assert fake.sent()[-1]["text"] == "after a long sync"


def test_it_retries_later_when_the_loading_screen_stops_moving_during_a_send(fake, channel):
    fake.configure(loading_stuck_at=30)
    before = len(fake.sent())
    with deadlines(channel, element_s=2.0), pytest.raises(SendError) as failure:
        channel.send(message("+15551230022", "stuck sync"))
    error = failure.value
    assert error.reason == "WhatsApp Web did not finish loading its chats"
    assert not (error.permanent or error.uncertain or error.pause_campaign), "retried later: nothing was sent"
    assert len(fake.sent()) == before
    fake.configure(loading_stuck_at=None)
    channel.session.run(lambda driver, stop: driver.get(fake.url), 10)  # leave a page that works


def test_it_holds_the_message_lease_longer_than_the_longest_send(channel):
    t = channel.send_timeouts
    steps = channel.browser_config.page_load_timeout_s + t.loading_s + 4 * t.element_s + 5.0 + t.sent_s
    assert channel.longest_send_s() > steps, "the dispatcher's lease covers every wait of a send"
    defaults = SendTimeouts().longest_s(BrowserConfig(profile_dir=Path(".")).page_load_timeout_s) + 10.0
    assert WhatsAppChannel.send_timeout_s == defaults, "the class's figure is the default deadlines' sum"


def test_it_never_reports_a_single_tick_as_delivered(fake, channel):
    # 2026: with no aria-label, only the svg's title tells: `wds-ic-delivered` is the SINGLE tick (sent);
    # the double tick `wds-ic-read` is delivered when grey and read when blue.
    fake.configure(tick_labels=False)
    provider_id = channel.send(message("+15551230031", "one tick only"))
    fake_id = fake.sent()[-1]["id"]
    fake.ack(fake_id, "sent")
    single = channel.fetch_delivery(provider_id)
    assert single is not None and (single.status, single.success) == ("sent", None), "not delivered"

    fake.ack(fake_id, "delivered")
    assert wait_until(lambda: _status_is(channel, provider_id, "delivered"), what="grey double tick").success is True
    fake.ack(fake_id, "read")
    assert wait_until(lambda: _status_is(channel, provider_id, "read"), what="blue double tick").success is True


def test_it_pauses_on_the_restriction_bar_of_a_new_chat_and_keeps_sending_to_existing_chats(fake, channel):
    channel.send(message("+15551230041", "before the restriction"))  # an existing chat from now on
    fake.configure(new_chats_restricted=True)
    before = len(fake.sent())
    started = time.monotonic()
    with pytest.raises(SendError) as failure:
        channel.send(message("+15551230042", "a new chat"))
    error = failure.value
    words = "WhatsApp says: Your account on linked devices is restricted. You can't start new chats right now."
    assert error.reason == words
    assert error.pause_campaign and not (error.permanent or error.uncertain), "queued again, never failed"
    assert time.monotonic() - started < channel.send_timeouts.element_s, "no wait for a message box that never comes"
    assert len(fake.sent()) == before
    wait_until(lambda: channel.state == "error", what="the channel to say so")

    channel.send(message("+15551230041", "an existing chat still sends"))
    assert fake.sent()[-1]["text"] == "an existing chat still sends"
    assert channel.state == "error", "new chats are still restricted"

    fake.configure(new_chats_restricted=False, earlier_messages=False)  # a chat with no message at all
    channel.send(message("+15551230043", "new chats open again"))
    wait_until(lambda: channel.state == "ready", what="ready again once a new chat opens")


def test_it_reads_an_unread_chat_far_down_a_list_of_a_hundred_chats(fake, channel):
    far = fake.receive("15551280001", "Reply from the bottom of the list")
    fake.fill_chat_list(99)  # 99 chats with newer (read) messages: the unread one is 100th, past the 70 rendered

    def listed() -> tuple[int, bool]:
        return channel.session.run(
            lambda d, s: (
                len(d.find_elements("css selector", '#pane-side [role="row"], #pane-side [role="listitem"]')),
                bool(d.find_elements("css selector", '#pane-side span[title="+15551280001"]')),
            ),
            5,
        )

    wait_until(lambda: listed()[0] == 70, what="a chat list of 70 rendered chats")
    assert listed() == (70, False), "the unread chat is not in the page"

    found = channel.read_incoming()
    assert [(m.message_id, m.chat, m.text) for m in found] == [
        (far, "+15551280001", "Reply from the bottom of the list")
    ]
    assert channel.read_incoming() == [], "read once"
    assert listed()[0] == 70, "the list is back on All"
