"""The packaged app's parts that run without building it: how the one executable routes its command line, the
frozen-app environment, the WebView2 check, the freedesktop launcher, icon set and AppDir, and the release
workflow's syntax. (`make dist-check` builds the app and starts it: packaging/tests/test_dist_app.py.)"""

from __future__ import annotations

import configparser
import os
import subprocess
import sys
from pathlib import Path

import yaml

from bulkmsg_desktop import frozen, webview2
from bulkmsg_desktop.freedesktop import ICON_SIZES, write_appdir, write_icon_set, write_launcher
from tests.helpers import check_reaper_ends_browser, require

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"


def qt_svg_available() -> bool:
    try:
        import PyQt6.QtSvg  # noqa: F401
    except ImportError:
        return False
    return True


def test_it_opens_the_window_on_a_double_click_and_runs_commands_when_given_one() -> None:
    assert frozen.route([]) == "desktop"
    assert frozen.route(["--screenshot", "shot.png"]) == "desktop"
    assert frozen.route(["serve", "--port", "0"]) == "cli"
    assert frozen.route(["db", "upgrade"]) == "cli"
    assert frozen.route(["--help"]) == "cli"
    assert frozen.route(["--data-dir", "/srv/bulkmsg"]) == "desktop"
    assert frozen.route(["servee"]) == "cli"  # argparse then names the commands there are
    assert frozen.route(["/opt/BulkMessenger/_internal/backend/channels/whatsapp/reaper.pyc", "/p"]) == "reaper"


def test_it_runs_the_command_line_through_the_packaged_entry(tmp_path: Path) -> None:
    env = {**os.environ, "BULKMSG_DATA_DIR": str(tmp_path), "BULKMSG_LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bulkmsg_desktop.frozen import main; sys.exit(main(['db', 'upgrade']))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "The database schema is up to date." in done.stdout
    assert (tmp_path / "bulkmsg.sqlite3").exists()


def test_it_routes_the_whatsapp_reaper_to_the_reaper_not_a_second_window(tmp_path: Path) -> None:
    """Frozen, the reaper starts as `BulkMessenger <...>/reaper.py <profile>`: it must reap that profile's
    browsers once its stdin closes (the app went away)."""
    from backend.channels.whatsapp import reaper

    profile = tmp_path / "profile"
    check_reaper_ends_browser(
        profile,
        lambda: subprocess.Popen(
            [sys.executable, "-c", "import sys; from bulkmsg_desktop.frozen import main; sys.exit(main(sys.argv[1:]))"]
            + [reaper.__file__, str(profile)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        ),
        settle_s=0.3,
    )


def test_it_survives_a_windowed_start_without_stdout_or_stderr() -> None:
    code = (
        "import sys, logging; sys.stdout = None; sys.stderr = None\n"
        "from bulkmsg_desktop.frozen import null_streams; null_streams()\n"
        "print('hello'); logging.warning('still fine'); sys.stderr.write('x')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_it_points_tls_at_the_bundled_certificates_and_picks_qt_on_linux(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    frozen.prepare_environment(env, platform="linux")
    assert Path(env["SSL_CERT_FILE"]).is_file()
    assert "BEGIN CERTIFICATE" in Path(env["SSL_CERT_FILE"]).read_text()
    assert env["REQUESTS_CA_BUNDLE"] == env["SSL_CERT_FILE"]
    assert (env["PYWEBVIEW_GUI"], env["QT_API"]) == ("qt", "pyqt6")
    assert env["LC_CTYPE"] == "C.UTF-8"
    # What the user set wins.
    own = {"SSL_CERT_FILE": "/etc/ssl/mine.pem", "PYWEBVIEW_GUI": "gtk", "LANG": "de_DE.UTF-8"}
    frozen.prepare_environment(own, platform="linux")
    assert own["SSL_CERT_FILE"] == "/etc/ssl/mine.pem"
    assert own["PYWEBVIEW_GUI"] == "gtk"
    assert "LC_CTYPE" not in own
    windows: dict[str, str] = {}
    frozen.prepare_environment(windows, platform="win32")
    assert "PYWEBVIEW_GUI" not in windows


def test_it_tells_a_windows_user_without_webview2_how_to_get_it() -> None:
    """The registry shape (a `pv` string under EdgeUpdate\\Clients\\{F3017226-...}, HKCU for per-user
    installs, HKLM WOW6432Node for per-machine ones) is Microsoft's documented detection, as pywebview reads it."""

    def registry(values: dict[tuple[str, str], str]) -> webview2.RegistryReader:
        return lambda hive, path, name: values.get((hive, path)) if name == "pv" else None

    per_user = (webview2.LOCATIONS[0][0], webview2.LOCATIONS[0][1])
    per_machine = (webview2.LOCATIONS[1][0], webview2.LOCATIONS[1][1])
    assert per_user[1].endswith(r"EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}")

    assert webview2.missing_runtime_message(registry({per_user: "131.0.2903.70"})) is None
    assert webview2.missing_runtime_message(registry({per_machine: "120.0.2210.91"})) is None
    for broken in ({}, {per_machine: "0.0.0.0"}, {per_user: ""}):
        message = webview2.missing_runtime_message(registry(broken))
        assert message is not None
        assert "WebView2 Runtime" in message
        assert "https://go.microsoft.com/fwlink/p/?LinkId=2124703" in message


def test_it_writes_a_freedesktop_icon_set_and_launcher(tmp_path: Path) -> None:
    require(qt_svg_available(), "PyQt6 (QtSvg) is not installed (pip install 'pywebview[qt]')")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtGui import QImage

    written = write_icon_set(tmp_path / "share")
    hicolor = tmp_path / "share" / "icons" / "hicolor"
    for size in ICON_SIZES:
        image = QImage(str(hicolor / f"{size}x{size}" / "apps" / "bulk-messenger.png"))
        assert (image.width(), image.height()) == (size, size)
        # Drawn, not blank: the blue tile at the centre and transparency in a rounded corner.
        assert image.pixelColor(size // 4, size // 2).blue() > 150
        assert image.pixelColor(0, 0).alpha() == 0
    assert (hicolor / "scalable" / "apps" / "bulk-messenger.svg").read_text().startswith("<svg")
    assert len(written) == len(ICON_SIZES) + 1

    executable = tmp_path / "My Apps" / "BulkMessenger" / "BulkMessenger"
    launcher = write_launcher(tmp_path / "bulk-messenger.desktop", executable)
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(launcher)
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application"
    assert desktop["Exec"] == f'"{executable}"'  # a path with a space is double-quoted (Desktop Entry spec)
    assert desktop["Icon"] == "bulk-messenger"
    assert desktop["Terminal"] == "false"
    assert {"Network", "Office"} <= set(desktop["Categories"].rstrip(";").split(";"))


def test_it_lays_out_an_appdir_whose_apprun_starts_the_app(tmp_path: Path) -> None:
    require(qt_svg_available(), "PyQt6 (QtSvg) is not installed (pip install 'pywebview[qt]')")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = tmp_path / "BulkMessenger"
    (app / "_internal").mkdir(parents=True)
    executable = app / "BulkMessenger"
    executable.write_text('#!/bin/sh\necho "started with: $*"\n')
    executable.chmod(0o755)

    appdir = write_appdir(app, tmp_path / "BulkMessenger.AppDir")
    done = subprocess.run(
        [str(appdir / "AppRun"), "serve", "--port", "0"], capture_output=True, text=True, timeout=30, cwd=tmp_path
    )
    assert done.stdout.strip() == "started with: serve --port 0"
    assert (appdir / "bulk-messenger.desktop").exists()
    assert (appdir / ".DirIcon").resolve() == (appdir / "bulk-messenger.png").resolve()
    assert (appdir / "usr/share/icons/hicolor/512x512/apps/bulk-messenger.png").exists()
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(appdir / "bulk-messenger.desktop")
    assert entry["Desktop Entry"]["Exec"] == "BulkMessenger"


def test_it_has_a_release_workflow_github_actions_accepts() -> None:
    """YAML syntax plus the keys GitHub Actions requires (workflow syntax reference: `on`, `jobs.<id>.runs-on`,
    `jobs.<id>.steps[*]` with `uses` or `run`, `needs` naming jobs). actionlint is not reachable here."""
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert "push" in triggers and "workflow_dispatch" in triggers
    assert triggers["push"]["tags"] == ["v*"]
    jobs = workflow["jobs"]
    assert {"linux", "windows", "macos", "release"} <= set(jobs)
    for name, job in jobs.items():
        assert isinstance(job.get("runs-on"), str), f"{name}: runs-on"
        assert isinstance(job.get("timeout-minutes"), int), f"{name}: timeout-minutes"
        assert job["steps"], f"{name}: no steps"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), f"{name}: a step needs exactly one of uses/run: {step}"
        for needed in job.get("needs", []):
            assert needed in jobs, f"{name} needs an unknown job {needed}"
    builds = {name: " ".join(step.get("run", "") for step in jobs[name]["steps"]) for name in ("windows", "macos")}
    for name, commands in builds.items():
        assert "packaging/BulkMessenger.spec" in commands, name
    assert "make dist-check" in " ".join(step.get("run", "") for step in jobs["linux"]["steps"])
    assert "\t" not in WORKFLOW.read_text()
