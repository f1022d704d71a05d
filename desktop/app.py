"""`bulkmsg desktop`: start the backend in-process on a free loopback port and show it in a native window.

The window opens `http://127.0.0.1:<port>/#token=<token>` (a token made for this run), so the dashboard shows
without a sign-in step. Closing the window stops everything the run started: running campaigns are paused
safely, the jobs and dispatchers stop, Chromium (WhatsApp Web) quits and the HTTP server closes its port.

For tests and screenshots: `--screenshot PATH` waits for the dashboard, saves a PNG of the window and closes
it; `--report PATH` writes a JSON summary after shutdown (time to dashboard, threads, port and child
processes left behind).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop.leftovers import leftovers
from desktop.qt_env import prepare_qt_environment

log = logging.getLogger("desktop")

TITLE = "Bulk Messenger"
ICON = Path(__file__).resolve().parent / "bulk-messenger.png"
DASHBOARD_TIMEOUT_S = 30.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bulkmsg desktop", description="Open Bulk Messenger in its own window.")
    parser.add_argument("--data-dir", help="where the database, keys and WhatsApp profile live")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the dashboard, then close the window")
    parser.add_argument("--report", type=Path, help="write a JSON summary of the run after shutdown")
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["desktop"]:  # called as `bulkmsg desktop ...` with the whole command line
        args = args[1:]
    return parser.parse_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    logging.basicConfig(level=os.environ.get("BULKMSG_LOG_LEVEL", "INFO").upper(), format="%(levelname)s %(name)s: %(message)s")
    prepare_qt_environment(os.environ)
    try:
        import webview
    except ImportError:
        print("The desktop app needs pywebview with Qt: pip install 'bulkmsg-app[desktop]'.", file=sys.stderr)
        return 2

    from backend.config import Config, ConfigError
    from backend.server import start_app_server

    try:
        config = Config.from_env(os.environ, port=0, data_dir=args.data_dir)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2

    report: dict[str, Any] = {"pid": os.getpid()}
    server = start_app_server(config)
    report["url"] = server.url
    report["backend_s"] = round(time.monotonic() - started, 3)
    log.info("Bulk Messenger is running at %s", server.url)
    try:
        window = webview.create_window(
            TITLE,
            f"{server.url}/#token={server.token}",
            width=1280,
            height=800,
            min_size=(420, 560),
            text_select=True,
            background_color="#F4F6F9",
        )
        webview.settings["ALLOW_DOWNLOADS"] = True  # the campaign CSV export
        task = (lambda: screenshot_then_close(window, args.screenshot, report, started)) if args.screenshot else None
        webview.start(task, icon=str(ICON) if ICON.exists() else None, private_mode=True)
    finally:
        log.info("Window closed; stopping campaigns, jobs and browsers")
        server.stop()
    report.update(leftovers(server.url))
    if args.report:
        args.report.write_text(json.dumps(report, indent=2))
    return 1 if report.get("error") else 0


def wait_for_dashboard(window: Any, timeout_s: float = DASHBOARD_TIMEOUT_S) -> None:
    """Block until the page says it shows the dashboard with its data, and has painted it."""
    deadline = time.monotonic() + timeout_s
    probe = "document.documentElement.dataset.view + ':' + (document.documentElement.dataset.ready || '')"
    while window.evaluate_js(probe) != "dashboard:1":
        if time.monotonic() > deadline:
            raise TimeoutError(f"The dashboard did not appear within {timeout_s:.0f} s.")
        time.sleep(0.05)
    window.evaluate_js(
        "requestAnimationFrame(() => requestAnimationFrame(() => { document.documentElement.dataset.painted = '1'; }))"
    )
    while window.evaluate_js("document.documentElement.dataset.painted || ''") != "1":
        if time.monotonic() > deadline:
            raise TimeoutError("The dashboard did not finish painting.")
        time.sleep(0.02)


def screenshot_then_close(window: Any, path: Path, report: dict[str, Any], started: float) -> None:
    from desktop.capture import grab_window

    try:
        wait_for_dashboard(window)
        report["dashboard_s"] = round(time.monotonic() - started, 3)
        report["screenshot"] = str(grab_window(window, path))
    except Exception as error:  # the run still shuts down cleanly; the report says what went wrong
        log.exception("desktop screenshot failed")
        report["error"] = str(error)
    finally:
        window.destroy()


if __name__ == "__main__":
    raise SystemExit(main())
