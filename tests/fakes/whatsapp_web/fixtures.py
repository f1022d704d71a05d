"""Pytest helpers for the WhatsApp browser tests: the fake page fixture, Chromium discovery, process checks."""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from backend.channels.base import ChannelContext
from tests.fakes.whatsapp_web.server import FakeWhatsAppWeb

T = TypeVar("T")


def require_chromium() -> tuple[str, str]:
    """(chromium, chromedriver) paths; skips the test when missing, or fails when BULKMSG_REQUIRE_ALL=1."""
    chromium = os.environ.get("BULKMSG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("BULKMSG_CHROMEDRIVER") or shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = "chromium and chromedriver are not installed (apt-get install -y chromium chromium-driver)"
    if os.environ.get("BULKMSG_REQUIRE_ALL") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


chromium_paths = pytest.fixture(scope="session")(require_chromium)


#: WhatsApp Web's two page generations (rolled out in stages): every browser test runs on both.
MARKUPS = ("2025", "2026")


@pytest.fixture(params=MARKUPS, ids=[f"markup{m}" for m in MARKUPS])
def markup(request: pytest.FixtureRequest) -> str:
    """The page generation the fake serves ("2025" or "2026")."""
    return str(request.param)


@pytest.fixture
def fake_whatsapp_web(markup: str) -> Iterator[FakeWhatsAppWeb]:
    """A fresh fake WhatsApp Web of each markup with a fast-rotating QR (0.4 s), on a free loopback port."""
    with FakeWhatsAppWeb(qr_rotate_ms=400, qr_max_rotations=4, markup=markup) as fake:
        yield fake


def wait_until(condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05, what: str = "") -> T:
    """Poll `condition` until it returns something truthy; fail the test naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)


def leftover_browser_processes(profile_dir: Path, *, main_only: bool = False) -> list[int]:
    """Live (not zombie) processes whose command line names this Chromium profile directory (with main_only,
    only browser processes, not their renderer/GPU/utility helpers)."""
    needle = f" --user-data-dir={profile_dir} ".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state = stat.rsplit(")", 1)[-1].split()[0]
        if main_only and b"--type=" in cmdline:
            continue
        if needle in b" " + cmdline.replace(b"\0", b" ") + b" " and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


class StatusRecorder:
    """Captures what a channel emits (ChannelContext.emit_status / emit_qr), from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, str | None]] = []  # ("status", text) / ("qr", data_url or None)
        self.states: list[str] = []

    def emit_status(self, state: str, text: str) -> None:
        with self._lock:
            self.events.append(("status", text))
            self.states.append(state)

    def emit_qr(self, data_url: str | None) -> None:
        with self._lock:
            self.events.append(("qr", data_url))

    def texts(self) -> list[str]:
        with self._lock:
            return [value for kind, value in self.events if kind == "status" and value is not None]

    def qrs(self) -> list[str | None]:
        with self._lock:
            return [value for kind, value in self.events if kind == "qr"]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()
            self.states.clear()

    def wait_for_text(self, text: str, timeout: float = 20.0) -> None:
        wait_until(lambda: text in self.texts(), timeout, what=f"status {text!r} (got {self.texts()})")


#: Short deadlines so a test that goes wrong fails in seconds, not minutes.
TEST_TIMEOUTS = {
    "startup_s": 15.0,
    "loading_stall_s": 5.0,
    "lost_s": 5.0,
    "poll_s": 0.1,
    "element_s": 6.0,
    "sent_s": 6.0,
    "page_load_timeout_s": 15.0,
    "command_timeout_s": 15.0,
}


def whatsapp_context(
    data_dir: Path, url: str, recorder: StatusRecorder, paths: tuple[str, str], **timeouts: float
) -> ChannelContext:
    """A ChannelContext pointing the WhatsApp channel at the fake page, capturing what it emits."""
    return ChannelContext(
        account_id=1,
        data_dir=data_dir,
        emit_status=recorder.emit_status,
        emit_qr=recorder.emit_qr,
        options={
            "whatsapp_url": url,
            "chromium": paths[0],
            "chromedriver": paths[1],
            "whatsapp_timeouts": {**TEST_TIMEOUTS, **timeouts},
        },
    )
