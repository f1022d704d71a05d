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
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .leftovers import leftovers
from .qt_env import prepare_qt_environment

log = logging.getLogger("desktop")

TITLE = "Bulk Messenger"
ICON = Path(__file__).resolve().parent / "bulk-messenger.png"
DASHBOARD_TIMEOUT_S = 30.0
SPLASH = """<!doctype html><meta charset="utf-8"><title>Bulk Messenger</title>
<body style="margin:0;height:100vh;display:grid;place-items:center;background:#f4f6f9;color:#566072;
font:15px system-ui,sans-serif"><p>Starting Bulk Messenger…</p></body>"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bulkmsg desktop", description="Open Bulk Messenger in its own window.")
    parser.add_argument("--data-dir", help="where the database, keys and WhatsApp profile live")
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the dashboard, then close the window")
    parser.add_argument("--report", type=Path, help="write a JSON summary of the run after shutdown")
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["desktop"]:  # called as `bulkmsg desktop ...` with the whole command line
        args = args[1:]
    return parser.parse_args(args)


def main(argv: Sequence[str] | Any = None) -> int:
    """Run the desktop app. `argv`: command-line words, or the Config `bulkmsg desktop` already built."""
    given_config: Any = None
    words: Sequence[str] | None = argv
    if argv is not None and not isinstance(argv, list | tuple):
        given_config, words = argv, []
    args = parse_args(words)
    started = time.monotonic()
    from backend.config import Config, ConfigError

    try:
        base: Config = given_config or Config.from_env(os.environ, data_dir=args.data_dir)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    # The window's own server: loopback only, on a port nobody else has.
    config = base.replace(host="127.0.0.1", port=0)
    from backend.logs import setup_logging

    # Also to <data dir>/logs: a double-clicked (or windowed, on Windows) app has no terminal to read.
    setup_logging(config.log_level, config.data_dir)
    report: dict[str, Any] = {"pid": os.getpid()}
    # The backend starts while Qt and the window come up: each takes about a second on its own.
    backend = BackendStarter(config, report, started)
    backend.start()
    prepare_qt_environment(os.environ)
    if sys.platform == "win32" and (problem := windows_runtime_problem()):
        backend.stop()
        print(problem, file=sys.stderr)
        return 2
    try:
        import webview
    except ImportError:
        backend.stop()
        print("The desktop app needs pywebview with Qt: pip install 'bulkmsg-app[desktop]'.", file=sys.stderr)
        return 2
    try:
        window = webview.create_window(
            TITLE,
            html=SPLASH,
            width=1280,
            height=800,
            min_size=(420, 560),
            text_select=True,
            background_color="#F4F6F9",
        )
        webview.settings["ALLOW_DOWNLOADS"] = True  # the campaign CSV export
        webview.start(
            lambda: show_app(window, backend, args.screenshot, report, started),
            icon=str(ICON) if ICON.exists() else None,
            private_mode=True,
        )
    finally:
        log.info("Window closed; stopping campaigns, jobs and browsers")
        backend.stop()
    if backend.server is not None:
        report.update(leftovers(backend.server.url))
    if args.report:
        args.report.write_text(json.dumps(report, indent=2))
    return 1 if report.get("error") else 0


def windows_runtime_problem() -> str | None:
    """Windows: the WebView2 Runtime is missing (shown in a message box as well: a windowed app has no console)."""
    from .webview2 import missing_runtime_message, show_error

    problem = missing_runtime_message()
    if problem:
        show_error(problem)
    return problem


class BackendStarter:
    """Starts the backend on a free loopback port in a thread, so the window need not wait for it."""

    def __init__(self, config: Any, report: dict[str, Any], started: float) -> None:
        self.config = config
        self.report = report
        self.started = started
        self.server: Any = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name="backend-start", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            from backend.server import start_app_server

            self.server = start_app_server(self.config)
            self.report["url"] = self.server.url
            self.report["backend_s"] = round(time.monotonic() - self.started, 3)
            log.info("Bulk Messenger is running at %s", self.server.url)
        except Exception as error:  # shown in the window and in the report
            log.exception("the backend did not start")
            self.error = error
            self.report["error"] = f"The backend did not start: {error}"
        finally:
            self.ready.set()

    def stop(self) -> None:
        self.thread.join()
        if self.server is not None:
            self.server.stop()


def show_app(
    window: Any, backend: BackendStarter, screenshot: Path | None, report: dict[str, Any], started: float
) -> None:
    """On pywebview's worker thread: open the dashboard once the backend answers (or say why it cannot)."""
    report["window_s"] = round(time.monotonic() - started, 3)
    backend.ready.wait()
    if backend.server is None:
        window.load_html(SPLASH.replace("Starting Bulk Messenger…", f"Bulk Messenger could not start: {backend.error}"))
        if screenshot:
            window.destroy()
        return
    window.load_url(f"{backend.server.url}/#token={backend.server.token}")
    if screenshot:
        screenshot_then_close(window, screenshot, report, started)


def wait_for_dashboard(window: Any, timeout_s: float = DASHBOARD_TIMEOUT_S) -> None:
    """Block until the page says it shows the dashboard with its data, and has painted it.

    `run_js`, not `evaluate_js`: pywebview's evaluate_js wraps the script in `eval`, which the app's
    Content-Security-Policy refuses (no 'unsafe-eval'); Qt's runJavaScript returns the expression's value as is.
    """
    deadline = time.monotonic() + timeout_s
    probe = "document.documentElement.dataset.view + ':' + (document.documentElement.dataset.ready || '')"
    while window.run_js(probe) != "dashboard:1":
        if time.monotonic() > deadline:
            raise TimeoutError(f"The dashboard did not appear within {timeout_s:.0f} s.")
        time.sleep(0.05)
    window.run_js(
        "requestAnimationFrame(() => requestAnimationFrame(() => { document.documentElement.dataset.painted = '1'; }))"
    )
    while window.run_js("document.documentElement.dataset.painted || ''") != "1":
        if time.monotonic() > deadline:
            raise TimeoutError("The dashboard did not finish painting.")
        time.sleep(0.02)


def screenshot_then_close(window: Any, path: Path, report: dict[str, Any], started: float) -> None:
    from .capture import grab_window

    try:
        wait_for_dashboard(window)
        report["dashboard_s"] = round(time.monotonic() - started, 3)
        report["dashboard_at"] = time.time()  # wall clock: a caller can add the process start-up before main()
        report["title"] = window.title
        report["page_title"] = window.run_js("document.title")
        report["screenshot"] = str(grab_window(window, path))
    except Exception as error:  # the run still shuts down cleanly; the report says what went wrong
        log.exception("desktop screenshot failed")
        report["error"] = str(error)
    finally:
        window.destroy()


if __name__ == "__main__":
    raise SystemExit(main())
