"""The delivery-status job across processes: kill -9 while it holds leases, two servers on one PostgreSQL,
and BULKMSG_DELIVERY_JOB=false."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from backend.app import create_app
from backend.config import Config
from backend.store.migrate import upgrade
from tests.delivery_support import add_sent, add_sent_bulk, count, message, signed
from tests.helpers import EventSocket, wait_for

ROOT = Path(__file__).resolve().parent.parent


def prepared_store(make_config: Any, data_dir: Path, n: int, **config: Any) -> None:
    app = create_app(make_config(data_dir=data_dir, **config))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    services.account_token()
    add_sent_bulk(services, n)
    services.db.dispose()


def test_it_checks_every_message_again_after_the_server_is_killed_while_holding_leases(
    tmp_path: Path, make_config: Any, start_server: Any
) -> None:
    data_dir = tmp_path / "data"
    db_path = data_dir / "bulkmsg.sqlite3"
    n = 40_000
    prepared_store(make_config, data_dir, n)
    settled_expected = n - n // 3
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backend",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--db",
            f"sqlite:///{db_path}",
        ],  # fmt: skip
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "BULKMSG_LOG_LEVEL": "WARNING"},
    )
    probe = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    leased = "SELECT count(*) FROM messages WHERE delivery_lease_owner IS NOT NULL"
    try:
        # The server sweeps as soon as it starts; kill it the moment a batch is leased.
        wait_for(lambda: probe.execute(leased).fetchone()[0] > 0, timeout=60, interval=0.002, what="a leased batch")
        os.kill(server.pid, signal.SIGKILL)
    finally:
        server.wait(10)
    stuck = probe.execute(leased).fetchone()[0]
    owners = {row[0] for row in probe.execute("SELECT DISTINCT delivery_lease_owner FROM messages WHERE "
                                              "delivery_lease_owner IS NOT NULL")}  # fmt: skip
    probe.close()
    assert stuck > 0 and all(f":{server.pid}:" in owner for owner in owners), (stuck, owners)

    restarted = start_server(make_config(data_dir=data_dir, jobs=True))
    services = restarted.app.extensions["bulkmsg"]

    def all_checked() -> bool:
        return (
            count(services, "SELECT count(*) FROM messages WHERE delivered IS NOT NULL") == settled_expected
            and count(services, "SELECT count(*) FROM messages WHERE delivery_check_attempts = 0 AND delivered IS NULL")
            == 0
            and count(services, leased) == 0
        )

    wait_for(all_checked, timeout=90, interval=0.2, what="every message checked after the restart")
    events = count(services, "SELECT count(*) FROM events WHERE type = 'message.updated'")
    distinct = count(
        services,
        "SELECT count(DISTINCT json_extract(data, '$.message_id')) FROM events WHERE type = 'message.updated'",
    )
    assert events == distinct == settled_expected, "each settled message has exactly one message.updated"


def test_it_settles_each_message_once_with_two_servers_on_one_postgresql_and_both_dashboards_see_it(
    pg_url: str, start_server: Any
) -> None:
    # Only the nudges below sweep (no 5-second sweep): a message without a final report is then checked exactly
    # once, by one of the two servers, however long the dashboards take on a busy machine.
    first = start_server(database_url=pg_url, delivery_interval_s=3600.0)
    second = start_server(database_url=pg_url, delivery_interval_s=3600.0)
    services = first.app.extensions["bulkmsg"]
    sockets = [EventSocket(first.url, first.token), EventSocket(second.url, second.token)]
    try:
        add_sent_bulk(services, 600)
        expected = {row for (row,) in _ids_with_finals(services)}
        for server in (first, second):
            server.app.extensions["bulkmsg"].delivery_job.nudge()
        for socket in sockets:
            seen: set[int] = set()

            def updated(frame: dict[str, Any], seen: set[int] = seen) -> bool:
                if frame.get("type") == "message.updated":
                    seen.add(frame["data"]["message"]["id"])
                return seen == expected

            socket.until(updated, timeout=60)
    finally:
        for socket in sockets:
            socket.close()
    assert count(services, "SELECT count(*) FROM events WHERE type = 'message.updated'") == len(expected)
    assert count(services, "SELECT max(delivery_check_attempts) FROM messages") <= 1


def _ids_with_finals(services: Any) -> list[tuple[int]]:
    with services.db.read() as session:
        return list(session.execute(text("SELECT DISTINCT message_id FROM communications")))  # type: ignore[arg-type]


def test_it_runs_no_background_delivery_job_when_turned_off(tmp_path: Path, start_server: Any) -> None:
    config = Config.from_env({"BULKMSG_DELIVERY_JOB": "false"}, data_dir=tmp_path / "off", port=0)
    server = start_server(config.replace(testing=True))
    services = server.app.extensions["bulkmsg"]
    (message_id,) = add_sent(services)
    with services.db.write() as session:
        secret = services.secrets.webhook_secret(session, 1)
    raw, headers = signed(secret, {"message_id": message_id, "provider": "mailer", "event_id": "e1",
                                   "status": "delivered", "success": True})  # fmt: skip

    assert requests.post(server.url + "/webhooks/communications", data=raw, headers=headers, timeout=5).ok
    assert server.runtime.scheduler.get_job("delivery-status") is None
    time.sleep(0.5)  # a nudge would settle it within milliseconds; nothing may run here
    assert message(services, message_id).delivered is None

    auth = {"Authorization": f"Bearer {server.token}"}
    done = requests.post(server.url + "/api/trigger/delivery-status", headers=auth, timeout=10).json()
    assert done["delivered"] == 1, "an explicit trigger still runs it"
    assert message(services, message_id).delivered is True


def test_it_schedules_the_delivery_job_every_five_seconds_by_default(start_server: Any) -> None:
    server = start_server()
    job = server.runtime.scheduler.get_job("delivery-status")
    assert job is not None and job.trigger.interval.total_seconds() == 5.0
