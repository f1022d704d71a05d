"""`make dist-check`: the built one-folder app, started from a directory outside the source tree with a clean
environment (`env -i` plus the display variables, a temporary HOME and XDG_DATA_HOME, Qt offscreen).

Run after `packaging/build.py` (make dist). Where PyInstaller could not run, the build wrote the reason into
dist/build-info.json and these tests skip with it (and fail under BULKMSG_REQUIRE_ALL=1).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bulkmsg_desktop.leftovers import child_processes  # noqa: E402
from tests.conftest import pg_url  # noqa: E402,F401 - the fixture: a fresh PostgreSQL schema
from tests.fakes.google import FakeGoogle  # noqa: E402
from tests.fakes.whatsapp_web import FakeWhatsAppWeb  # noqa: E402
from tests.fakes.whatsapp_web.fixtures import leftover_browser_processes  # noqa: E402
from tests.gmail_support import connect_gmail  # noqa: E402
from tests.helpers import check_reaper_ends_browser, require, wait_for  # noqa: E402

DIST = ROOT / "dist"
APP = DIST / "BulkMessenger" / "BulkMessenger"
DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "XDG_RUNTIME_DIR")


@pytest.fixture(scope="module")
def app() -> Path:
    info = DIST / "build-info.json"
    if info.exists():
        skipped = json.loads(info.read_text()).get("skipped")
        require(not skipped, str(skipped))
    require(APP.is_file(), f"{APP} is not built (run make dist)")
    return APP


def clean_env(tmp_path: Path, **extra: str) -> list[str]:
    """`env -i` and the few variables a desktop session gives an app, with a throwaway home."""
    variables = {name: os.environ[name] for name in DISPLAY_VARIABLES if os.environ.get(name)}
    variables.update(
        {
            "HOME": str(tmp_path / "home"),
            "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
            "QT_QPA_PLATFORM": "offscreen",
            "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox",
            "BULKMSG_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    (tmp_path / "home").mkdir(exist_ok=True)
    return ["env", "-i", *(f"{k}={v}" for k, v in variables.items())]


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory with no source tree in it or above it."""
    where = tmp_path / "elsewhere"
    where.mkdir()
    assert not (where / "frontend").exists() and ROOT not in where.parents
    return where


class Server:
    def __init__(self, command: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = ""
        self.token = ""
        assert self.process.stdout is not None
        for line in self.process.stdout:  # `serve` prints the URL once it listens
            if match := re.search(r"Open (http://127\.0\.0\.1:\d+)/#login=", line):
                self.url = match.group(1)
                break
        if not self.url:
            self.process.wait(timeout=30)
            err = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"the packaged server did not start (exit {self.process.returncode}): {err[-2000:]}")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError("the packaged server did not stop on SIGTERM") from None


@pytest.fixture
def serve(app: Path, tmp_path: Path, outside: Path) -> Iterator[Server]:
    server = Server([*clean_env(tmp_path), str(app), "serve", "--port", "0"], outside)
    yield server
    assert server.stop() == 0


def api(server: Server, token: str, method: str, path: str, **kw: object) -> requests.Response:
    return requests.request(method, server.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30, **kw)  # type: ignore[arg-type]


def test_it_serves_the_api_and_the_ui_from_the_packaged_executable(
    app: Path, serve: Server, tmp_path: Path, outside: Path
) -> None:
    health = requests.get(serve.url + "/api/health", timeout=10)
    assert health.status_code == 200, health.text
    page = requests.get(serve.url + "/", timeout=10)
    assert "<title>Bulk Messenger</title>" in page.text
    module = requests.get(serve.url + "/views/dashboard.js", timeout=10)
    assert module.status_code == 200 and "javascript" in module.headers["Content-Type"]

    # `token` runs through the same executable's command line, against the same data directory.
    token = subprocess.run(
        [*clean_env(tmp_path), str(app), "token"], cwd=outside, capture_output=True, text=True, timeout=60
    )
    assert token.returncode == 0, token.stderr
    bearer = token.stdout.strip()
    # The system Chromium is found without PATH being set (a double-click from a file manager).
    whatsapp = api(serve, bearer, "PUT", "/api/channels/whatsapp", json={})
    assert whatsapp.status_code == 200, whatsapp.text
    assert "Ready to connect" in whatsapp.text


def test_it_keeps_its_data_where_the_source_install_does_and_upgrades_it(
    app: Path, serve: Server, tmp_path: Path
) -> None:
    database = tmp_path / "xdg-data" / "bulkmsg" / "bulkmsg.sqlite3"
    assert database.exists(), sorted(str(p) for p in tmp_path.rglob("*.sqlite3"))
    newest = max(p.stem for p in (ROOT / "backend/store/migrations/versions").glob("0*.py"))
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == newest
    source = subprocess.run(
        [
            *clean_env(tmp_path),
            sys.executable,
            "-c",
            "import os; from backend.config import Config; print(Config.from_env(os.environ).data_dir)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert source.returncode == 0, source.stderr
    assert Path(source.stdout.strip()) == database.parent


def test_it_says_how_to_install_chromium_when_there_is_none(app: Path, tmp_path: Path, outside: Path) -> None:
    empty = tmp_path / "empty-path"
    empty.mkdir()
    server = Server([*clean_env(tmp_path, PATH=str(empty)), str(app), "serve", "--port", "0", "--no-jobs"], outside)
    try:
        token = subprocess.run(
            [*clean_env(tmp_path), str(app), "token"], cwd=outside, capture_output=True, text=True, timeout=60
        ).stdout.strip()
        answer = api(server, token, "PUT", "/api/channels/whatsapp", json={})
    finally:
        assert server.stop() == 0
    assert answer.status_code == 400
    assert "apt-get install chromium chromium-driver" in answer.json()["message"]


def test_it_opens_the_dashboard_window_offscreen(app: Path, tmp_path: Path, outside: Path) -> None:
    shot = tmp_path / "dashboard.png"
    report_path = tmp_path / "report.json"
    started = time.time()
    window = [str(app), "--screenshot", str(shot), "--report", str(report_path)]
    done = subprocess.run(
        [*clean_env(tmp_path, BULKMSG_LOG_LEVEL="INFO"), *window],
        cwd=outside,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert report_path.exists(), f"no report; exit {done.returncode}\n{done.stderr[-3000:]}"
    report = json.loads(report_path.read_text())
    assert done.returncode == 0, f"{report.get('error')}\n{done.stderr[-3000:]}"
    assert report["title"] == "Bulk Messenger"
    assert report["page_title"] == "Dashboard · Bulk Messenger"  # the page names the view it shows
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtGui import QImage

    image = QImage(str(shot))
    assert (image.width(), image.height()) == (1280, 800)
    colours = {image.pixel(x, y) for x in range(0, 1280, 40) for y in range(0, 800, 40)}
    assert len(colours) > 4, "the screenshot is (nearly) one flat colour"
    assert report["port_open"] is False and report["threads"] == []
    log = (tmp_path / "xdg-data" / "bulkmsg" / "logs" / "bulkmsg.log").read_text()
    assert f"Bulk Messenger is running at {report['url']}" in log
    # Kept for people (and the README's figures): the screenshot and the start-up times of this run.
    report["process_to_dashboard_s"] = round(report["dashboard_at"] - started, 3)
    (DIST / "dist-check-dashboard.png").write_bytes(shot.read_bytes())
    (DIST / "dist-check-report.json").write_text(json.dumps(report, indent=2))


def test_it_routes_the_whatsapp_reaper_inside_the_packaged_app(app: Path, tmp_path: Path, outside: Path) -> None:
    profile = tmp_path / "profile"
    reaper_path = APP.parent / "_internal" / "backend" / "channels" / "whatsapp" / "reaper.pyc"
    check_reaper_ends_browser(
        profile,
        lambda: subprocess.Popen(
            [*clean_env(tmp_path), str(app), str(reaper_path), str(profile)], cwd=outside, stdin=subprocess.PIPE
        ),
        settle_s=1.0,
    )


def test_it_sends_through_gmail_with_the_bundled_google_client(app: Path, tmp_path: Path, outside: Path) -> None:
    """The Google libraries, the bundled Gmail v1 discovery document and the OAuth flow work frozen: a fake
    Google (tests/fakes/google.py, speaking the documented OAuth and Gmail send shapes) receives the mail."""
    google = FakeGoogle().start()
    extra = {"OAUTHLIB_INSECURE_TRANSPORT": "1", "BULKMSG_GMAIL_API_ENDPOINT": google.url}
    try:
        server = Server([*clean_env(tmp_path, **extra), str(app), "serve", "--port", "0"], outside)
        try:
            server.token = subprocess.run(
                [*clean_env(tmp_path), str(app), "token"], cwd=outside, capture_output=True, text=True, timeout=60
            ).stdout.strip()
            connect_gmail(server, google, from_address="news@example.com")
            body = {"source": "email", "to": "ana@example.org", "subject": "Frozen hello", "body": "Sent from the app"}
            created = api(server, server.token, "POST", "/api/conversations/c-1/messages", json=body)
            assert created.status_code < 300, created.text
            wait_for(lambda: google.sent, timeout=30, what="the mail to reach the fake Gmail")
        finally:
            assert server.stop() == 0
    finally:
        google.stop()
    mail = google.sent[0].message
    assert mail["To"] == "ana@example.org"
    assert mail["Subject"] == "Frozen hello"
    assert "Sent from the app" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


def test_it_runs_whatsapp_and_its_reaper_cleans_up_after_a_crash(app: Path, tmp_path: Path, outside: Path) -> None:
    """Selenium, the system Chromium and chromedriver, the QR code (qrcode + Pillow) and the reaper, frozen,
    against the fake WhatsApp Web page (tests/fakes/whatsapp_web). The app is then killed (a crash): the reaper,
    which the packaged executable runs as itself, must end that profile's Chromium."""
    with FakeWhatsAppWeb(qr_rotate_ms=400, qr_max_rotations=4) as fake:
        env = clean_env(tmp_path, BULKMSG_WHATSAPP_URL=fake.url)
        server = Server([*env, str(app), "serve", "--port", "0"], outside)
        profile = tmp_path / "xdg-data" / "bulkmsg" / "whatsapp-profile" / "account-1"
        drivers: list[int] = []
        try:
            token = subprocess.run(
                [*clean_env(tmp_path), str(app), "token"], cwd=outside, capture_output=True, text=True, timeout=60
            ).stdout.strip()

            def texts(kind: str) -> list[str]:
                items = api(server, token, "GET", "/api/events?limit=1000").json()["items"]
                return [e["text"] for e in items if e["type"] == kind]

            def qr_images() -> list[str]:
                items = api(server, token, "GET", "/api/events?limit=1000").json()["items"]
                return [e["data"]["data_url"] for e in items if e["type"] == "channel.qr" and e["data"]["data_url"]]

            settings = {"min_delay_s": 0, "max_delay_s": 0}
            assert api(server, token, "PUT", "/api/channels/whatsapp", json=settings).status_code == 200
            assert api(server, token, "POST", "/api/channels/whatsapp/connect").status_code == 202
            qrs = wait_for(qr_images, timeout=60, what="a QR code from the packaged app")
            assert qrs[0].startswith("data:image/png;base64,")
            fake.scan()
            wait_for(lambda: "Client is ready!" in texts("channel.status"), timeout=60, what="WhatsApp ready")
            body = {"source": "whatsapp", "to": "+12025550123", "body": "Hola from the packaged app"}
            assert api(server, token, "POST", "/api/conversations/s-1/messages", json=body).status_code == 201
            wait_for(lambda: fake.sent(), timeout=60, what="the WhatsApp message to be sent")
            assert [m["text"] for m in fake.sent()] == ["Hola from the packaged app"]

            assert leftover_browser_processes(profile) != []
            drivers = [c["pid"] for c in child_processes(server.process.pid) if "chromedriver" in c["cmd"]]
            server.process.kill()  # a crash: no shutdown code runs
            server.process.wait(timeout=30)
            wait_for(lambda: leftover_browser_processes(profile) == [], timeout=30, what="the reaper to end Chromium")
        finally:
            if server.process.poll() is None:
                server.stop()
            for pid in drivers:  # chromedriver outlives a killed parent; it is ours, so end it
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def test_it_upgrades_a_postgresql_database_with_the_bundled_driver(
    app: Path,
    tmp_path: Path,
    outside: Path,
    pg_url: str,  # noqa: F811 - the fixture imported above
) -> None:
    done = subprocess.run(
        [*clean_env(tmp_path), str(app), "db", "upgrade", "--db", pg_url],
        cwd=outside,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "The database schema is up to date." in done.stdout
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url)
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    finally:
        engine.dispose()
    assert version == max(p.stem for p in (ROOT / "backend/store/migrations/versions").glob("0*.py"))
