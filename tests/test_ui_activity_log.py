"""The activity log in real Chromium: 100,000 entries stay smooth, it filters, it replays after a reload, and
the socket reconnects by itself without losing events."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from backend.server import start_app_server
from backend.store.models import Event, utcnow
from tests.ui_support import chromium, free_port, js_errors, screenshot_dir, shoot, wait_js, wait_view

pytestmark = pytest.mark.browser

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


def emit(server: Any, text: str, level: str = "info") -> int:
    services = server.app.extensions["bulkmsg"]
    return services.hub.emit(account_id(server), "send.progress", text, level=level, data={"status": "sent"})


def test_it_keeps_100000_entries_smooth_filterable_and_replayed(live_server: Any, tmp_path: Path) -> None:
    bulk_events(live_server, 100_000)
    with chromium() as driver:
        driver.get(f"{live_server.url}/#token={live_server.token}")
        wait_view(driver, "dashboard")
        started = time.monotonic()
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('100,000 ')", timeout=60, what="100,000 entries in the log")
        replay_s = time.monotonic() - started

        rows = driver.execute_script("return document.querySelectorAll('.log-row:not([hidden])').length")
        assert rows < 60, f"{rows} rows in the DOM: the log is not virtualised"
        assert "Sent to +15550099999" in driver.execute_script(
            "return document.querySelector('.log-viewport').innerText"
        )

        # Scroll from the end to the top in 60 steps, one per frame, and time the frames.
        frames = driver.execute_script(
            """
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
        )
        frames.sort()
        p90 = frames[int(len(frames) * 0.9)]
        assert p90 < 50, f"scrolling 100,000 entries: 90th percentile frame {p90:.0f} ms"
        assert "Sent to +15550000000" in driver.execute_script(
            "return document.querySelector('.log-viewport').innerText"
        )

        search = driver.find_element("css selector", ".log-tools input[type=search]")
        search.send_keys("+155500123")
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('100 entries')", what="the text filter")
        driver.find_element("css selector", ".log-levels input[value=error]").click()
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('75 entries')", what="the level filter")
        shoot(driver, screenshot_dir(tmp_path), "activity-log-100k-filtered")

        emit(live_server, "Sent to +15550012399 (live)", level="success")
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('76 entries')", what="a live event passing the filter")

        driver.refresh()
        wait_view(driver, "dashboard")
        wait_js(driver, f"return ({LOG_COUNT}).startsWith('100,001 ')", timeout=60, what="the replay after reload")
        assert js_errors(driver) == []
    assert replay_s < 30, f"replaying 100,000 events took {replay_s:.1f} s"


@pytest.mark.xfail(
    strict=True,
    reason="backend: AppServer.stop() leaves open /ws connections (and their threads) running, so the page never "
    "sees the drop; the /ws handler must end when the server stops",
)
def test_it_reconnects_by_itself_and_loses_no_event(make_config: Any, tmp_path: Path) -> None:
    port = free_port()
    config = make_config(port=port, jobs=True)
    first = start_app_server(config)
    second = None
    first_running = True
    try:
        with chromium() as driver:
            driver.get(f"{first.url}/#token={first.token}")
            wait_view(driver, "dashboard")
            wait_js(driver, "return document.getElementById('conn').dataset.state === 'live'", what="live")
            emit(first, "before the drop")
            wait_js(driver, "return document.querySelector('.log-viewport').innerText.includes('before the drop')")

            first.stop(pause_campaigns=False)
            first_running = False
            wait_js(
                driver, "return document.getElementById('conn').dataset.state === 'reconnecting'", what="reconnecting"
            )
            assert driver.execute_script("return document.getElementById('conn').innerText") == "Reconnecting…"
            shoot(driver, screenshot_dir(tmp_path), "reconnecting")

            # Events written while the dashboard was cut off, then the server comes back on the same port.
            second = start_app_server(config)
            for i in range(3):
                emit(second, f"while away {i}")
            wait_js(
                driver, "return document.getElementById('conn').dataset.state === 'live'", timeout=30, what="live again"
            )
            emit(second, "after the return")
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
    finally:
        if first_running:
            first.stop(pause_campaigns=False)
        if second is not None:
            second.stop(pause_campaigns=False)
