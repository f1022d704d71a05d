"""The activity log in real Chromium: 10,000 entries stay virtualised, it filters, it replays after a reload, and
the socket reconnects by itself without losing events. The 100,000-entry timing is `bench/activity_log.py`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from backend.accounts import get_or_create_account
from backend.config import Config
from backend.services import Services
from backend.store.models import Event, utcnow
from tests.ui_support import chromium, free_port, js_errors, screenshot_dir, shoot, wait_js, wait_view

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent

LOG_COUNT = "document.querySelector('.log-foot .num').innerText"
LEVELS = ("info", "success", "warning", "error")


def account_id(server: Any) -> int:
    services = server.app.extensions["bulkmsg"]
    return services.signer.verify(server.token).account_id


def bulk_events(server: Any, n: int) -> None:
    """Write n events in one statement (as a long-running install would have accumulated them)."""
    services = server.app.extensions["bulkmsg"]
    acc = account_id(server)
    start = utcnow() - timedelta(seconds=n / 100)
    rows = [
        {
            "account_id": acc,
            "ts": start + timedelta(milliseconds=10 * i),
            "type": "send.progress",
            "level": LEVELS[i % 4],
            "text": f"Sent to +1555{i:07d}",
            "data": {"recipient": f"+1555{i:07d}", "status": "sent"},
        }
        for i in range(n)
    ]
    with services.db.write() as session:
        session.execute(insert(Event), rows)


SCROLL = """
const vp = document.querySelector('.log-viewport');
const times = [];
return new Promise((resolve) => {
  let step = 0, last = performance.now();
  const tick = (now) => {
    times.push(now - last); last = now;
    vp.scrollTop = vp.scrollHeight * (1 - step / 60);
    if (++step <= 60) requestAnimationFrame(tick); else resolve(times.slice(2));
  };
  requestAnimationFrame(tick);
});
"""


def scroll_frames(driver: Any) -> list[float]:
    return driver.execute_script(SCROLL)


def p90(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.9)]


def emit(server: Any, text: str, level: str = "info") -> int:
    services = server.app.extensions["bulkmsg"]
    return services.hub.emit(account_id(server), "send.progress", text, level=level, data={"status": "sent"})


def test_it_keeps_10000_entries_virtualised_filterable_and_replayed(live_server: Any, tmp_path: Path) -> None:
    bulk_events(live_server, 10_000)
    with chromium() as driver:
        driver.get(f"{live_server.url}/#token={live_server.token}")
        wait_view(driver, "dashboard")
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('10,000 ')", timeout=60, what="10,000 entries in the log")

        rows = driver.execute_script("return document.querySelectorAll('.log-row:not([hidden])').length")
        assert rows < 60, f"{rows} rows in the DOM: the log is not virtualised"
        assert "Sent to +15550009999" in driver.execute_script(
            "return document.querySelector('.log-viewport').innerText"
        )
        scroll_frames(driver)  # from the end to the top
        assert "Sent to +15550000000" in driver.execute_script(
            "return document.querySelector('.log-viewport').innerText"
        )
        search = driver.find_element("css selector", ".log-tools input[type=search]")
        search.send_keys("+15550001")
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('1,000 entries')", what="the text filter")

        driver.find_element("css selector", ".log-levels input[value=error]").click()
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('750 entries')", what="the level filter")
        shoot(driver, screenshot_dir(tmp_path), "activity-log-10k-filtered")

        emit(live_server, "Sent to +15550001999 (live)", level="success")
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('751 entries')", what="a live event passing the filter")

        driver.refresh()
        wait_view(driver, "dashboard")
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('10,001 ')", timeout=60, what="the replay after reload")
        assert js_errors(driver) == []


class ServeProcess:
    """`bulkmsg serve` in its own process (so killing it drops every socket, like a crash or a restart)."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir, self.port = data_dir, port
        env = {**os.environ, "BULKMSG_LOG_LEVEL": "WARNING", "BULKMSG_DELIVERY_JOB": "false"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--port", str(port), "--data-dir", str(data_dir)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.link = ""
        said: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            said.append(line)
            if "#login=" in line:
                self.link = line.split()[-1]
                return
            if not line and self.proc.poll() is not None:
                break
        self.kill()
        raise AssertionError("bulkmsg serve did not print its link:\n" + "".join(said)[-2000:])

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()


def emit_into(data_dir: Path, texts: list[str]) -> None:
    """Write events into the store the server uses, from outside it (as another process would)."""
    config = Config.from_env({}, data_dir=str(data_dir))
    services = Services.build(config)
    try:
        with services.db.write() as session:
            account = get_or_create_account(session, "default").id
        for text in texts:
            services.hub.emit(account, "send.progress", text, level="info", data={"status": "sent"})
    finally:
        services.db.dispose()


def test_it_reconnects_by_itself_after_a_restart_and_loses_no_event(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    server = ServeProcess(data_dir, port)
    try:
        with chromium() as driver:
            driver.get(server.link)
            wait_view(driver, "dashboard")
            wait_js(driver, "return document.getElementById('conn').dataset.state === 'live'", what="live")
            emit_into(data_dir, ["before the drop"])
            wait_js(driver, "return document.querySelector('.log-viewport').innerText.includes('before the drop')")

            server.kill()
            wait_js(
                driver, "return document.getElementById('conn').dataset.state === 'reconnecting'", what="reconnecting"
            )
            assert driver.execute_script("return document.getElementById('conn').innerText") == "Reconnecting…"
            shoot(driver, screenshot_dir(tmp_path), "reconnecting")
            emit_into(data_dir, [f"while away {i}" for i in range(3)])  # written while the page is cut off

            server = ServeProcess(data_dir, port)
            wait_js(driver, "return document.getElementById('conn').dataset.state === 'live'", timeout=40, what="live")
            emit_into(data_dir, ["after the return"])
            text = wait_js(
                driver,
                "const t = document.querySelector('.log-viewport').innerText;"
                "return t.includes('after the return') && t",
                what="the events sent while away and after",
            )
            for i in range(3):
                assert f"while away {i}" in text
            count = driver.execute_script(f"return {LOG_COUNT}")
            assert count.startswith("5 entries"), count  # nothing lost, nothing twice
            assert js_errors(driver) == []
    finally:
        server.kill()


def test_it_catches_up_over_http_when_the_server_says_resync(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    server = ServeProcess(data_dir, port)
    try:
        with chromium() as driver:
            driver.get(server.link)
            wait_view(driver, "dashboard")
            wait_js(driver, "return document.getElementById('conn').dataset.state === 'live'", what="live")
            server.kill()
            wait_js(driver, "return document.getElementById('conn').dataset.state === 'reconnecting'")

            # More events than the socket replays (5,000): the server answers the hello with `resync`.
            config = Config.from_env({}, data_dir=str(data_dir))
            services = Services.build(config)
            try:
                with services.db.write() as session:
                    account = get_or_create_account(session, "default").id
                    rows = [
                        {
                            "account_id": account,
                            "ts": utcnow(),
                            "type": "send.progress",
                            "level": "info",
                            "text": f"missed {i}",
                            "data": {},
                        }
                        for i in range(6000)
                    ]
                    session.execute(insert(Event), rows)
            finally:
                services.db.dispose()

            server = ServeProcess(data_dir, port)
            wait_js(driver, f"return ({LOG_COUNT}).startsWith('6,000 ')", timeout=40, what="all 6,000 missed events")
            text = driver.execute_script("return document.querySelector('.log-viewport').innerText")
            assert "missed 5999" in text
            # After the backfill the client says hello again on a new socket: live once that one is open.
            wait_js(driver, "return document.getElementById('conn').dataset.state === 'live'", what="live again")
            assert js_errors(driver) == []
    finally:
        server.kill()
