"""Small helpers shared by the tests: waiting for a condition, prerequisites, a WebSocket client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

REQUIRE_ALL = os.environ.get("BULKMSG_REQUIRE_ALL") == "1"


def require(condition: bool, reason: str) -> None:
    """Skip the test when a prerequisite is missing; in CI (BULKMSG_REQUIRE_ALL=1) fail instead."""
    if condition:
        return
    if REQUIRE_ALL:
        pytest.fail(f"prerequisite missing (BULKMSG_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)


def wait_for(check: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = "condition") -> T:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_session(base_url: str, token: str) -> Any:
    """A requests session to the live server with the bearer token, ignoring any proxy set in the environment."""
    import requests

    http = requests.Session()
    http.trust_env = False
    http.headers.update(bearer(token))
    return http


def check_reaper_ends_browser(
    profile: Path, start_reaper: Callable[[], subprocess.Popen[bytes]], settle_s: float
) -> None:
    """The WhatsApp reaper's contract: started beside a browser of `profile`, it waits while its stdin (the app) is
    open, then ends that browser. The browser is a stand-in whose command line names the profile as Chromium's does."""
    browser = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", f"--user-data-dir={profile}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        reaper = start_reaper()
        time.sleep(settle_s)
        assert reaper.poll() is None, "the reaper ended before its parent went away (was it routed elsewhere?)"
        assert browser.poll() is None, "the reaper acted before its parent went away"
        assert reaper.stdin is not None
        reaper.stdin.close()  # the app "exits"
        assert reaper.wait(timeout=30) == 0
        wait_for(lambda: browser.poll() is not None, timeout=15, what="the profile's browser to be ended")
    finally:
        if browser.poll() is None:
            browser.kill()
        browser.wait(timeout=10)


class EventSocket:
    """A real WebSocket client on /ws (websocket-client), speaking the hello protocol.

    `after=None` (the default) means the events from now on: the client asks `GET /api/events` for the newest id
    and says hello with it, so an event emitted while the server is still handling the hello (its own thread; slow
    on a loaded machine) is replayed instead of lost. `live_only=True` sends `"after": null` as it is.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        after: int | None = None,
        origin: str | None = None,
        receive_buffer: int | None = None,
        live_only: bool = False,
    ) -> None:
        import socket

        import requests
        import websocket

        if after is None and not live_only:
            newest = requests.get(f"{base_url}/api/events", params={"limit": 1}, headers=bearer(token), timeout=5)
            items = newest.json()["items"]
            after = items[-1]["id"] if items else 0
        ticket = requests.post(f"{base_url}/api/ws-ticket", headers=bearer(token), timeout=5).json()["ticket"]
        sockopt = ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),) if receive_buffer else ()
        self.ws = websocket.create_connection(
            base_url.replace("http://", "ws://") + "/ws", timeout=10, origin=origin or base_url, sockopt=sockopt
        )
        self.ws.send(json.dumps({"type": "hello", "ticket": ticket, "after": after}))
        self.received: list[dict[str, Any]] = []

    def next(self, timeout: float = 10.0) -> dict[str, Any]:
        self.ws.settimeout(timeout)
        frame = json.loads(self.ws.recv())
        self.received.append(frame)
        return frame

    def until(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching event within {timeout}s; got {self.received[-5:]}")
            frame = self.next(remaining)
            if predicate(frame):
                return frame

    def close(self) -> None:
        self.ws.close()
