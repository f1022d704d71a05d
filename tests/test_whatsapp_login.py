# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""WhatsApp login lifecycle in real headless Chromium against the fake WhatsApp Web page (no WebDriver mocks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from backend.channels.base import OutboundMessage
from backend.channels.whatsapp import WhatsAppChannel
from backend.channels.whatsapp.qr import qr_data_url
from tests.fakes.whatsapp_web import (
    FakeWhatsAppWeb,
    StatusRecorder,
    leftover_browser_processes,
    wait_until,
    whatsapp_context,
)
from tests.fakes.whatsapp_web.fixtures import chromium_paths, fake_whatsapp_web, markup  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent


def channel_for(tmp_path: Path, fake: FakeWhatsAppWeb, paths: tuple[str, str], **timeouts: float):
    recorder = StatusRecorder()
    channel = WhatsAppChannel({}, {}, whatsapp_context(tmp_path, fake.url, recorder, paths, **timeouts))
    return channel, recorder


def test_it_streams_the_qr_as_it_rotates_and_becomes_ready_after_a_scan(tmp_path, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    channel, recorder = channel_for(tmp_path, fake, chromium_paths)
    try:
        started = time.monotonic()
        channel.connect()
        assert time.monotonic() - started < 0.5, "connect() must not wait for the browser"

        recorder.wait_for_text("Scan QR code to authenticate")
        # The page rotates its QR every 0.4 s and shows a reload button after 4 rotations, which gets clicked.
        wait_until(lambda: len(recorder.qrs()) >= 3, what="three QR codes")
        wait_until(lambda: fake.reload_clicks() >= 1, what="the reload button to be clicked")
        fake.scan()
        assert channel.wait_ready(15)

        assert recorder.texts() == [
            "Starting WhatsApp client...",
            "Initializing WhatsApp client...",
            "Scan QR code to authenticate",
            "Authenticated!",
            "Client is ready!",
        ]
        qrs = recorder.qrs()
        assert qrs[-1] is None, "the QR is cleared once authenticated"
        shown = qrs[:-1]
        assert len(set(shown)) == len(shown) >= 3, "each rotation is emitted once"
        page_refs = {qr_data_url(ref) for ref in fake.qr_refs()}
        assert set(shown) <= page_refs, "each QR encodes a data-ref the page showed"
        assert all(url.startswith("data:image/png;base64,") for url in shown)
        (agent,) = fake.user_agents()
        assert "Chrome/" in agent and "Headless" not in agent, "a desktop browser's user agent"
        seen = fake.browsers()
        assert seen and all(b == {"webdriver": False, "language": "en-US"} for b in seen), "English, no automation flag"
    finally:
        channel.disconnect()
    assert recorder.texts()[-1] == "Disconnected"
    assert leftover_browser_processes(channel.profile_dir) == []


def test_it_logs_in_again_without_a_qr_after_a_restart(tmp_path, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    first, _ = channel_for(tmp_path, fake, chromium_paths)
    first.connect()
    wait_until(lambda: first.state == "qr", what="the QR")
    fake.scan()
    assert first.wait_ready(15)
    first.close()

    second, recorder = channel_for(tmp_path, fake, chromium_paths)
    try:
        second.connect()
        assert second.wait_ready(15)
        assert recorder.texts() == [
            "Starting WhatsApp client...",
            "Initializing WhatsApp client...",
            "Authenticated!",
            "Client is ready!",
        ]
        assert recorder.qrs() == []
    finally:
        second.close()


def test_it_reports_a_logout_from_the_phone_and_shows_a_new_qr(tmp_path, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    channel, recorder = channel_for(tmp_path, fake, chromium_paths)
    try:
        channel.connect()
        wait_until(lambda: channel.state == "qr", what="the QR")
        fake.scan()
        assert channel.wait_ready(15)
        recorder.clear()

        fake.logout()
        recorder.wait_for_text("Scan QR code to authenticate")
        wait_until(lambda: any(recorder.qrs()), what="a new QR")
        assert recorder.texts()[:2] == ["Client disconnected: LOGOUT", "Scan QR code to authenticate"]
        assert "disconnected" in recorder.states and channel.state == "qr"

        fake.scan()
        recorder.wait_for_text("Client is ready!")
    finally:
        channel.disconnect()


def test_it_quits_chromium_on_disconnect_while_waiting_for_the_scan(tmp_path, fake_whatsapp_web, chromium_paths):
    channel, recorder = channel_for(tmp_path, fake_whatsapp_web, chromium_paths)
    channel.connect()
    recorder.wait_for_text("Scan QR code to authenticate")
    wait_until(lambda: recorder.qrs(), what="a QR")
    browsers = leftover_browser_processes(channel.profile_dir, main_only=True)
    assert len(browsers) == 1

    # Connect again (a reloaded page): no second browser, the prompt and the QR on screen are sent again.
    recorder.clear()
    channel.connect()
    assert recorder.texts() == ["Scan QR code to authenticate"]
    assert recorder.qrs()[0] is not None, "the QR on screen, at once (the page may rotate it right after)"
    assert leftover_browser_processes(channel.profile_dir, main_only=True) == browsers

    started = time.monotonic()
    channel.disconnect()
    assert time.monotonic() - started < 10
    assert recorder.texts()[-1] == "Disconnected"
    assert recorder.qrs()[-1] is None, "the QR on screen is withdrawn"
    assert leftover_browser_processes(channel.profile_dir) == []
    channel.disconnect()  # a second disconnect is harmless
    assert not channel.session.running


CRASHING_APP = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from backend.channels.whatsapp import WhatsAppChannel
    from tests.fakes.whatsapp_web.fixtures import StatusRecorder, whatsapp_context
    recorder = StatusRecorder()
    context = whatsapp_context(Path({data!r}), {url!r}, recorder, ({chromium!r}, {driver!r}))
    channel = WhatsAppChannel({{}}, {{}}, context)
    channel.connect()
    assert channel.wait_ready(30), recorder.texts()
    print("ready", flush=True)
    time.sleep(600)
    """
)


def test_it_leaves_no_browser_behind_when_the_app_crashes(tmp_path, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    first, _ = channel_for(tmp_path, fake, chromium_paths)
    first.connect()
    wait_until(lambda: first.state == "qr", what="the QR")
    fake.scan()
    assert first.wait_ready(15)
    first.close()

    script = CRASHING_APP.format(
        repo=str(REPO), data=str(tmp_path), url=fake.url, chromium=chromium_paths[0], driver=chromium_paths[1]
    )
    app = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert app.stdout is not None
        assert app.stdout.readline().strip() == b"ready"
        assert leftover_browser_processes(first.profile_dir) != []
        os.kill(app.pid, signal.SIGKILL)  # a crash: no cleanup code runs in the app
        app.wait(10)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(10)
    wait_until(lambda: leftover_browser_processes(first.profile_dir) == [], timeout=15, what="Chromium to be gone")

    # The crashed Chromium left its profile lock; the next start clears it and logs in without a QR.
    restarted, recorder = channel_for(tmp_path, fake, chromium_paths)
    try:
        restarted.connect()
        assert restarted.wait_ready(15), recorder.texts()
        assert recorder.qrs() == []
    finally:
        restarted.close()
    assert leftover_browser_processes(first.profile_dir) == []


def test_it_kills_an_orphaned_browser_holding_the_profile(tmp_path, fake_whatsapp_web, chromium_paths):
    channel, recorder = channel_for(tmp_path, fake_whatsapp_web, chromium_paths)
    channel.profile_dir.mkdir(parents=True)
    orphan = subprocess.Popen(
        [chromium_paths[0], "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={channel.profile_dir}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: (channel.profile_dir / "SingletonLock").is_symlink(), what="the orphan's profile lock")
        channel.connect()
        recorder.wait_for_text("Scan QR code to authenticate")
        assert orphan.wait(10) is not None
    finally:
        channel.close()
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait(10)
    assert leftover_browser_processes(channel.profile_dir) == []


def _fails_to_start(tmp_path: Path, paths: tuple[str, str], says: str) -> StatusRecorder:
    """Connect with these Chromium and chromedriver paths; the session ends in `error` saying `says`."""
    recorder = StatusRecorder()
    channel = WhatsAppChannel({}, {}, whatsapp_context(tmp_path, "http://127.0.0.1:9", recorder, paths))
    channel.connect()
    recorder.wait_for_text(says)
    assert recorder.states[-1] == "error"
    wait_until(lambda: not channel.session.running, what="the worker to end")
    return recorder


def test_it_says_why_the_client_failed_to_start_when_chromium_is_missing(tmp_path):
    paths = ("/nonexistent/chromium", "/nonexistent/cd")
    _fails_to_start(tmp_path, paths, "Failed to initialize client: Chromium not found at /nonexistent/chromium")


def test_it_says_the_client_failed_when_starting_it_raises_something_unexpected(tmp_path, monkeypatch):
    # e.g. PermissionError from a chromedriver without its executable bit: not a WebDriverException.
    def broken(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied", "/usr/bin/chromedriver")

    monkeypatch.setattr("backend.channels.whatsapp.session.start_browser", broken)
    paths = ("/usr/bin/true", "/usr/bin/true")
    recorder = _fails_to_start(tmp_path, paths, "Failed to initialize client: internal error (see the log)")
    assert not any("Permission denied" in text for text in recorder.texts())  # the log has it, the user gets a sentence


def test_it_says_which_element_is_missing_when_the_login_page_changed(tmp_path, chromium_paths, markup):
    with FakeWhatsAppWeb(startup_ms=60_000, markup=markup) as fake:  # stuck on the splash screen: no QR, no chat list
        channel, recorder = channel_for(tmp_path, fake, chromium_paths, startup_s=2.0)
        started = time.monotonic()
        channel.connect()
        recorder.wait_for_text("Failed to initialize client: WhatsApp Web changed: QR code not found")
        assert time.monotonic() - started < 10
        wait_until(lambda: not channel.session.running, what="the worker to end")
    assert leftover_browser_processes(channel.profile_dir) == []


def test_it_waits_out_a_slow_loading_screen_while_it_moves(tmp_path, chromium_paths, markup):
    # "Loading your chats" takes 3 s here, moving every 0.3 s; 1 s without progress would count as stuck.
    with FakeWhatsAppWeb(loading_tick_ms=300, loading_step=10, markup=markup) as fake:
        channel, recorder = channel_for(tmp_path, fake, chromium_paths, loading_stall_s=1.0)
        try:
            channel.connect()
            wait_until(lambda: channel.state == "qr", what="the QR")
            loads = fake.page_loads()
            fake.scan()
            assert channel.wait_ready(15), recorder.texts()
            assert not [t for t in recorder.texts() if t.startswith("Authentication failed")]
            assert fake.page_loads() == loads, "never reloaded over a loading screen that moves"
        finally:
            channel.close()


def test_it_reports_a_stuck_loading_screen_and_then_reloads(tmp_path, chromium_paths, markup):
    with FakeWhatsAppWeb(loading_stuck_at=50, markup=markup) as fake:
        channel, recorder = channel_for(tmp_path, fake, chromium_paths, loading_stall_s=1.5)
        try:
            channel.connect()
            wait_until(lambda: channel.state == "qr", what="the QR")
            loads = fake.page_loads()
            fake.scan()
            recorder.wait_for_text(
                "Authentication failed: Loading your chats stopped at 50% for 1.5 s; reloading WhatsApp Web"
            )
            assert "auth_failure" in recorder.states
            wait_until(lambda: fake.page_loads() > loads, what="the reload")
            fake.configure(loading_stuck_at=None)  # the next sync goes through
            assert channel.wait_ready(15), recorder.texts()
        finally:
            channel.close()


def _ready_channel(tmp_path, fake, paths, **timeouts):
    channel, recorder = channel_for(tmp_path, fake, paths, **timeouts)
    channel.connect()
    wait_until(lambda: channel.state == "qr", what="the QR")
    fake.scan()
    assert channel.wait_ready(15), recorder.texts()
    return channel, recorder


def test_it_says_whatsapp_is_open_in_another_window_and_takes_it_back_on_connect(
    tmp_path, fake_whatsapp_web, chromium_paths
):
    fake = fake_whatsapp_web
    channel, recorder = _ready_channel(tmp_path, fake, chromium_paths)
    try:
        started = time.monotonic()
        fake.open_elsewhere()
        recorder.wait_for_text("WhatsApp is open in another window", timeout=10)
        assert time.monotonic() - started < 5, "within seconds"
        assert channel.state == "conflict" and recorder.states[-1] == "conflict"
        assert fake.use_here_clicks() == 0, "never taken back without the user asking"

        recorder.clear()
        channel.connect()
        wait_until(lambda: "Client is ready!" in recorder.texts(), what="ready again")
        assert fake.use_here_clicks() == 1 and channel.state == "ready"
    finally:
        channel.close()


@pytest.mark.parametrize(
    ("page", "text"),
    [("update", "WhatsApp Web needs an update"), ("unsupported", "This browser is not supported")],
)
def test_it_names_an_update_needed_or_unsupported_browser_page(tmp_path, chromium_paths, page, text):
    with FakeWhatsAppWeb(page=page) as fake:
        channel, recorder = channel_for(tmp_path, fake, chromium_paths)
        try:
            channel.connect()
            recorder.wait_for_text(text)
            assert recorder.states[-1] == "error"
            assert not [t for t in recorder.texts() if "QR code not found" in t]
        finally:
            channel.close()


def test_it_says_when_the_phone_is_offline_and_when_it_is_back(tmp_path, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    channel, recorder = _ready_channel(tmp_path, fake, chromium_paths)
    try:
        recorder.clear()
        fake.configure(phone_offline=True)
        recorder.wait_for_text(
            "Client disconnected: Phone not connected Make sure your phone has an active internet connection."
        )
        assert channel.state == "disconnected"
        fake.configure(phone_offline=False)
        recorder.wait_for_text("Client is ready!")
    finally:
        channel.close()


def test_it_reports_restricted_account_words_as_an_error(tmp_path, fake_whatsapp_web, chromium_paths):
    fake = fake_whatsapp_web
    channel, recorder = _ready_channel(tmp_path, fake, chromium_paths)
    try:
        recorder.clear()
        fake.configure(restricted=True)
        recorder.wait_for_text(
            "WhatsApp says: Your account is restricted right now You can't start new chats for a while."
        )
        assert channel.state == "error"
    finally:
        channel.close()


def test_it_starts_chromium_again_when_it_exits_while_starting(tmp_path, fake_whatsapp_web, chromium_paths):
    # A Chromium that exits at once on its first start (as one did right after a crash under load), then runs.
    first_start = tmp_path / "first-start"
    wrapper = tmp_path / "flaky-chromium"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case "$*" in *--user-data-dir*) '
        f'if [ ! -e "{first_start}" ]; then touch "{first_start}"; exit 1; fi;; esac\n'
        f'exec "{chromium_paths[0]}" "$@"\n'
    )
    wrapper.chmod(0o755)
    channel, recorder = channel_for(tmp_path, fake_whatsapp_web, (str(wrapper), chromium_paths[1]))
    try:
        channel.connect()
        wait_until(lambda: channel.state == "qr", timeout=30, what="the QR after a second start")
        assert first_start.exists()
        assert not any(text.startswith("Failed to initialize client") for text in recorder.texts())
    finally:
        channel.close()


def test_it_closes_the_whats_new_dialog_after_login_and_sends_past_it(tmp_path, fake_whatsapp_web, chromium_paths):
    # After login a "What's new on WhatsApp Web" dialog lies over the chat list and catches every click.
    fake = fake_whatsapp_web
    fake.configure(whats_new=True)
    channel, recorder = _ready_channel(tmp_path, fake, chromium_paths)
    try:
        wait_until(lambda: fake.whats_new_closed() == 1, what="the dialog closed")
        assert recorder.texts()[-1] == "Client is ready!" and channel.state == "ready"
        channel.send(OutboundMessage(id=1, account_id=1, channel="whatsapp", recipient="+15551270001", body="hi"))
        assert [m["text"] for m in fake.sent()] == ["hi"]
    finally:
        channel.close()
