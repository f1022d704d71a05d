"""The desktop window under QT_QPA_PLATFORM=offscreen: it opens on the dashboard, a screenshot shows it, and
closing it leaves no thread, port or browser behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.helpers import require
from tests.ui_support import screenshot_dir

pytestmark = pytest.mark.desktop

ROOT = Path(__file__).resolve().parent.parent


def qt_available() -> bool:
    try:
        import PyQt6.QtWebEngineWidgets  # noqa: F401
        import webview  # noqa: F401
    except ImportError:
        return False
    return True


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def run_desktop(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "BULKMSG_DATA_DIR": str(tmp_path / "data"),
        "BULKMSG_LOG_LEVEL": "WARNING",
    }
    report = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "bulkmsg_desktop.app", "--report", str(report), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert report.exists(), f"no report; exit {done.returncode}\n{done.stderr[-3000:]}"
    return done, json.loads(report.read_text())


def test_it_opens_the_dashboard_and_closes_without_leaving_anything(tmp_path: Path) -> None:
    require(qt_available(), "pywebview with Qt is not installed (pip install 'pywebview[qt]')")
    shot = screenshot_dir(tmp_path) / "desktop-dashboard.png"
    done, report = run_desktop(tmp_path, "--screenshot", str(shot))

    assert done.returncode == 0, f"{report.get('error')}\n{done.stderr[-3000:]}"
    assert "error" not in report
    # The start-up time is a figure for `make dist-check` to report, not a test assertion (tests never time).
    assert report["dashboard_s"] > 0
    assert shot.stat().st_size > 20_000, "the screenshot is (nearly) empty"
    from PyQt6.QtGui import QImage

    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 800)
    # The sidebar and the page are painted: not one flat colour.
    colours = {image.pixel(x, y) for x in range(0, 1280, 40) for y in range(0, 800, 40)}
    assert len(colours) > 4

    # Nothing left: no Python thread, the port closed, and every child process (Qt WebEngine's helpers,
    # any Chromium or chromedriver) gone now that the app has exited.
    assert report["threads"] == [], report["threads"]
    assert report["port_open"] is False
    parts = urlsplit(report["url"])
    with pytest.raises(OSError), socket.create_connection((parts.hostname, parts.port), timeout=1):
        pass
    survivors = [c for c in report["children"] if alive(c["pid"])]
    assert survivors == [], survivors
    assert not [c for c in report["children"] if "chromedriver" in c["cmd"] or "--user-data-dir" in c["cmd"]]


def test_it_explains_a_bad_setting_instead_of_opening(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "BULKMSG_LOG_LEVEL": "LOUD", "BULKMSG_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "bulkmsg_desktop.app"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "BULKMSG_LOG_LEVEL" in done.stderr


def test_it_pauses_a_running_campaign_when_the_window_closes(tmp_path: Path, make_config: Any) -> None:
    require(qt_available(), "pywebview with Qt is not installed (pip install 'pywebview[qt]')")
    import requests

    from backend.server import start_app_server
    from tests.fakes.twilio import FakeTwilio
    from tests.helpers import bearer

    data_dir = tmp_path / "data"
    with FakeTwilio() as twilio:
        # A campaign left running by an earlier session, sending one message a minute.
        earlier = start_app_server(make_config(data_dir=data_dir, jobs=True))
        try:
            call = lambda method, path, **kw: requests.request(  # noqa: E731
                method, earlier.url + path, headers=bearer(earlier.token), timeout=15, **kw
            )
            assert call("PUT", "/api/channels/sms", json=twilio.settings()).ok
            for i in range(1, 4):
                assert call("POST", "/api/contacts", json={"name": f"Ana {i}", "phone": f"+1415555010{i}"}).ok
            body = {
                "name": "Slow",
                "channel": "sms",
                "body": "Hi",
                "recipients": {"all": True},
                "rate": {"per_minute": 1},
            }
            campaign = call("POST", "/api/campaigns", json=body).json()
            assert call("POST", f"/api/campaigns/{campaign['id']}/start").json()["status"] == "running"
        finally:
            earlier.stop(pause_campaigns=False)

        shot = screenshot_dir(tmp_path) / "desktop-with-campaign.png"
        done, report = run_desktop(tmp_path, "--screenshot", str(shot))
        assert done.returncode == 0, f"{report.get('error')}\n{done.stderr[-3000:]}"

        after = start_app_server(make_config(data_dir=data_dir, jobs=False))
        try:
            status = requests.get(
                f"{after.url}/api/campaigns/{campaign['id']}", headers=bearer(after.token), timeout=15
            ).json()
        finally:
            after.stop(pause_campaigns=False)
    assert status["status"] == "paused", status
    assert status["counts"]["sent"] < 3


def test_it_installs_a_launcher_that_opens_the_desktop_app(tmp_path: Path) -> None:
    import configparser

    from bulkmsg_desktop.install import install

    executable = tmp_path / "venv" / "bin" / "bulkmsg-desktop"
    launcher = install(tmp_path / "home", executable)
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(launcher)
    desktop_entry = entry["Desktop Entry"]
    assert desktop_entry["Type"] == "Application"
    assert desktop_entry["Exec"] == str(executable)
    assert desktop_entry["Terminal"] == "false"
    assert (tmp_path / "home/.local/share/icons/hicolor/scalable/apps" / f"{desktop_entry['Icon']}.svg").exists()
