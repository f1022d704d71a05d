"""The activity log in real headless Chromium with 100,000 entries: how long the replay takes and how smooth it
scrolls, against the same log filtered down to 100 entries in the same page (the machine's own pace).

Prints JSON lines {"bench","metric","value","unit","baseline","ratio"}:
- replay_100k_s: seconds from the dashboard opening to all 100,000 entries counted in the log;
- scroll_frame_p90_ms: 90th percentile frame time while scrolling 100,000 entries from the end to the top in 60
  steps; baseline: the same scroll over 100 entries (a virtualised log scrolls 100,000 like 100: ratio near 1).
The 10,000-entry check stays in tests/test_ui_activity_log.py; this figure needs more time than a test should take.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import note_load, result  # noqa: E402

from backend.config import Config  # noqa: E402
from backend.server import start_app_server  # noqa: E402
from tests.test_ui_activity_log import LOG_COUNT, bulk_events, p90, scroll_frames  # noqa: E402
from tests.ui_support import chromium, wait_js, wait_view  # noqa: E402

N = 100_000


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log on stderr
    note_load()
    with tempfile.TemporaryDirectory() as tmp:
        config = Config.from_env({}, data_dir=tmp, port=0)
        server = start_app_server(config.replace(jobs=False))
        try:
            bulk_events(server, N)
            with chromium() as driver:
                driver.get(f"{server.url}/#token={server.token}")
                wait_view(driver, "dashboard")
                started = time.monotonic()
                wait_js(driver, f"return ({LOG_COUNT}).startsWith('{N:,} ')", timeout=120, what="the replay")
                replay_s = time.monotonic() - started
                full = p90(scroll_frames(driver))
                driver.find_element("css selector", ".log-tools input[type=search]").send_keys("+155500123")
                wait_js(driver, f"return ({LOG_COUNT}).startsWith('100 entries')", what="the text filter")
                baseline = p90(scroll_frames(driver))
        finally:
            server.stop(pause_campaigns=False)
    result("activity_log", "replay_100k_s", round(replay_s, 2), "s")
    result("activity_log", "scroll_frame_p90_ms", round(full, 1), "ms", round(baseline, 1), round(full / baseline, 2))


if __name__ == "__main__":
    main()
