"""Fixtures: a fresh store per test (SQLite file, or a PostgreSQL schema of its own), the app, a live server."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from backend.app import create_app
from backend.config import Config
from backend.server import AppServer, start_app_server
from backend.store.migrate import upgrade
from tests.helpers import bearer, require
from tests.leftovers import MARKER, leftovers, mark_run

PG_URL = os.environ.get("BULKMSG_TEST_DATABASE_URL")

pytest_plugins = [
    "tests.fakes.whatsapp_web.fixtures",
    "tests.gmail_support",
    "tests.campaign_helpers",
    "tests.webhook_support",
]


def pytest_configure(config: pytest.Config) -> None:
    # Child processes (serve, fakes) must never reach out: keep Selenium Manager and proxies off.
    os.environ.setdefault("SE_AVOID_STATS", "true")
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    mark_run()  # every process the run starts carries it: see pytest_sessionfinish


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run fails when a browser, driver or server it started is still running at its end."""
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller checks once every worker is done
    left = leftovers(os.environ[MARKER])
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        lines = "\n".join(f"  {item}" for item in left)
        text = f"{len(left)} process(es) started by the tests were still running at the end (now killed):\n{lines}"
        if reporter is not None:
            reporter.write_line(text, red=True)
        else:
            print(text)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    require(bool(PG_URL), "BULKMSG_TEST_DATABASE_URL is not set (PostgreSQL tests)")
    assert PG_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # the server is down or the URL is wrong
        admin.dispose()
        require(False, f"PostgreSQL at BULKMSG_TEST_DATABASE_URL is not reachable: {exc.__class__.__name__}")
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store at the newest schema, migrated once per test process: each test's store starts as a copy
    of it (running every migration for every test cost 0.2-0.4 s a test)."""
    data_dir = tmp_path_factory.mktemp("migrated")
    app = create_app(Config(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'store.sqlite3'}", port=0))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    services.db.dispose()  # the last connection checkpoints the WAL into the file
    return data_dir / "store.sqlite3"


@pytest.fixture
def make_config(tmp_path: Path, migrated_store: Path) -> Callable[..., Config]:
    def make(**changes: Any) -> Config:
        data_dir = changes.pop("data_dir", tmp_path / "data")
        base = Config(
            data_dir=data_dir,
            database_url=f"sqlite:///{data_dir / 'bulkmsg.sqlite3'}",
            port=0,
            jobs=False,
            testing=True,
        )
        config = base.replace(**changes)
        store = data_dir / "bulkmsg.sqlite3"
        if config.database_url == f"sqlite:///{store}" and not store.exists():
            data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(migrated_store, store)
            store.chmod(0o600)
        return config

    return make


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config()


@pytest.fixture
def app(config: Config) -> Iterator[Any]:
    app = create_app(config)
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    yield app
    services.channels.close_all()
    services.db.dispose()


@pytest.fixture
def services(app: Any) -> Any:
    return app.extensions["bulkmsg"]


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def token(services: Any) -> str:
    return services.account_token()


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return bearer(token)


@pytest.fixture
def start_server(make_config: Callable[..., Config]) -> Iterator[Callable[..., AppServer]]:
    """Start real servers (Werkzeug on loopback, background jobs on); all are stopped after the test."""
    started: list[AppServer] = []

    def start(config: Config | None = None, **changes: Any) -> AppServer:
        cfg = config or make_config(**{"jobs": True, **changes})
        server = start_app_server(cfg)
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop(pause_campaigns=False)


@pytest.fixture
def live_server(start_server: Callable[..., AppServer]) -> AppServer:
    """A real server on a free loopback port with jobs running; `.url`, `.token`, `.app`."""
    return start_server()
