"""A regular (non-editable) install from a wheel carries the front end and the migrations: the installed app
upgrades a database and serves the UI when started from a directory that has no source tree.

The wheel is built by pip from a copy of the project's files; it is installed with pip into a fresh venv made in
a temporary directory. Its dependencies (Flask, SQLAlchemy, ...) come from this test venv's site-packages through
a `.pth` line, so no package is downloaded; the app itself is only in the wheel (the test checks that the
`backend` the fresh venv imports is the installed copy, not this checkout).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
import requests

from tests.helpers import require

ROOT = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("pyproject.toml", "setup.py", "README.md", "backend", "desktop", "frontend")


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in PROJECT_FILES:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=ignore)
        else:
            shutil.copy2(item, source / name)
    out = tmp_path / "wheels"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    require(done.returncode == 0, f"pip could not build the wheel here: {done.stderr.strip()[-500:]}")
    (wheel,) = out.glob("bulkmsg_app-*.whl")
    return wheel


def fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    home = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    )
    # Dependencies from this venv (appended after the fresh venv's own site-packages, so the wheel wins).
    (purelib / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return home


def test_it_serves_the_ui_and_upgrades_the_database_from_a_wheel_install(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path)
    home = fresh_venv(tmp_path, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data = tmp_path / "data"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "BULKMSG_DATA_DIR": str(data),
        "BULKMSG_LOG_LEVEL": "WARNING",
    }
    bulkmsg = str(home / "bin" / "bulkmsg")

    where = subprocess.run(
        [str(home / "bin" / "python"), "-c", "import backend, bulkmsg_desktop, bulkmsg_ui; print(backend.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(home), f"imported {where.stdout.strip()}, not the wheel's copy"

    upgraded = subprocess.run(
        [bulkmsg, "db", "upgrade"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "up to date" in upgraded.stdout
    newest = max(p.stem for p in (ROOT / "backend/store/migrations/versions").glob("0*.py"))
    with sqlite3.connect(next(data.glob("*.sqlite3"))) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchone()[0] == newest

    server = subprocess.Popen(
        [bulkmsg, "serve", "--port", "0", "--no-jobs"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = ""
        assert server.stdout is not None
        for line in server.stdout:  # the server prints the URL to open once it listens
            if match := re.search(r"Open (http://127\.0\.0\.1:\d+)/", line):
                url = match.group(1)
                break
        assert url, f"no URL printed: {server.stderr.read() if server.stderr else ''}"
        page = requests.get(url + "/", timeout=10)
        assert page.status_code == 200
        assert "<title>Bulk Messenger</title>" in page.text
        module = requests.get(url + "/lib/api.js", timeout=10)
        assert module.status_code == 200
        assert "javascript" in module.headers["Content-Type"]
        assert "export " in module.text
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            pytest.fail("the installed server did not stop on SIGTERM")
