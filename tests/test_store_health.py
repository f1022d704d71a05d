"""Store trouble is visible and heals by itself (DESIGN sections 5 and 9, issue 13 item 2).

Real parts: a small tmpfs as the data directory filled to the last page during a campaign, a private PostgreSQL
cluster stopped and started under the running app (never the system one), aiosmtpd as the SMTP server, and the
page in headless Chromium."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from backend.logs import FallbackFileHandler, OutageFilter
from tests.campaign_helpers import add_contacts, configure_smtp
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import bearer, wait_for
from tests.store_outage_support import disk_kept_full, fill, private_postgres, small_tmpfs
from tests.ui_support import chromium, screenshot_dir, set_viewport, shoot, text_of, wait_js, wait_view

CONTACTS = 12
#: two messages a second: the campaign is still running when the store gets into trouble.
PACE = {"per_minute": 120}


def _health(server: Any) -> tuple[int, dict[str, Any]]:
    answer = requests.get(f"{server.url}/api/health", timeout=10)
    return answer.status_code, answer.json()


def _degraded(server: Any) -> dict[str, Any]:
    """Wait for `GET /api/health` to answer 503; returns its body."""

    def check() -> dict[str, Any] | None:
        status, body = _health(server)
        return body if status == 503 else None

    body = wait_for(check, timeout=10, what="a 503 from /api/health")
    assert body is not None
    return body


def _start_campaign(server: Any, smtp: FakeSmtpServer) -> int:
    services = server.app.extensions["bulkmsg"]
    account_id = configure_smtp(services, smtp.settings())
    add_contacts(services, account_id, CONTACTS)
    auth = bearer(server.token)
    body = {"name": "Outage", "channel": "smtp", "subject": "Hi", "body": "Hello {{ name }}",
            "recipients": {"all": True}, "rate": PACE}  # fmt: skip
    created = requests.post(f"{server.url}/api/campaigns", json=body, headers=auth, timeout=10)
    assert created.status_code == 201, created.text
    campaign_id = int(created.json()["id"])
    started = requests.post(f"{server.url}/api/campaigns/{campaign_id}/start", headers=auth, timeout=10)
    assert started.status_code == 200, started.text
    wait_for(lambda: smtp.count >= 1, timeout=20, what="the first email")
    return campaign_id


def _campaign(server: Any, campaign_id: int) -> dict[str, Any]:
    answer = requests.get(f"{server.url}/api/campaigns/{campaign_id}", headers=bearer(server.token), timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _finishes_with_each_recipient_once(server: Any, campaign_id: int, smtp: FakeSmtpServer) -> None:
    done = wait_for(
        lambda: (c := _campaign(server, campaign_id))["status"] == "completed" and c,
        timeout=60,
        interval=0.3,
        what="the campaign to complete by itself",
    )
    arrivals: Counter[str] = smtp.arrivals()
    assert max(arrivals.values()) == 1, "nobody gets two copies"
    counts = done["counts"]
    # everything sent arrived; what the outage cut mid-send is `uncertain`, never silently lost
    assert counts["sent"] + counts["uncertain"] == CONTACTS and counts["failed"] == 0
    assert counts["sent"] <= len(arrivals) <= CONTACTS


def test_it_says_ok_at_once_when_the_store_is_well(live_server) -> None:
    status, body = _health(live_server)
    assert status == 200 and body["status"] == "ok" and body["version"]


def test_it_shows_a_full_disk_on_every_screen_and_carries_on_when_space_returns(
    start_server, smtp, tmp_path: Path
) -> None:
    with small_tmpfs(tmp_path / "data") as data_dir:
        server = start_server(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'bulkmsg.sqlite3'}")
        campaign_id = _start_campaign(server, smtp)
        with disk_kept_full(data_dir) as release:
            body = _degraded(server)
            assert body["status"] == "degraded"
            problem = body["problems"][0]
            # No path for a caller without a sign-in (a stranger learns nothing about the machine).
            assert problem["code"] == "disk_full" and str(data_dir) not in json.dumps(problem)
            assert "data folder" in problem["message"]
            assert "Free some space" in problem["fix"]

            shots = screenshot_dir(tmp_path / "shots")
            with chromium(1400, 900) as driver:
                driver.get(f"{server.url}/#token={server.token}")
                wait_view(driver, "dashboard")
                wait_js(driver, "return !document.getElementById('health-banner').hidden", 15, "the store banner")
                banner = text_of(driver, "#health-banner")
                assert "is full" in banner and "Free some space" in banner
                # the running campaign reads "Waiting", not "Running" with frozen counts
                wait_js(driver, "return [...document.querySelectorAll('.pill[data-status=running]')]"
                        ".some(p => p.textContent === 'Waiting')", 10, "a waiting campaign")  # fmt: skip
                shoot(driver, shots, "store-banner-1400x900")
                for route, view in (("campaigns", "campaigns"), ("contacts", "contacts")):
                    driver.execute_script("window.location.hash = arguments[0]", f"#/{route}")
                    wait_view(driver, view)
                    assert "is full" in text_of(driver, "#health-banner"), f"no banner on the {view} screen"
                set_viewport(driver, 390, 844)
                driver.execute_script("window.location.hash = '#/'")
                wait_view(driver, "dashboard")
                shoot(driver, shots, "store-banner-390x844")

                release()
                wait_for(lambda: _health(server)[0] == 200, timeout=10, what="health ok once space returns")
                wait_js(driver, "return document.getElementById('health-banner').hidden", 10, "the banner to go")
        _finishes_with_each_recipient_once(server, campaign_id, smtp)
        server.stop(pause_campaigns=False)


def test_it_says_the_database_is_unreachable_and_resumes_when_it_returns(start_server, smtp, tmp_path: Path) -> None:
    with private_postgres() as cluster:
        server = start_server(database_url=cluster.url)
        campaign_id = _start_campaign(server, smtp)
        cluster.stop()

        body = _degraded(server)
        assert body["status"] == "degraded" and body["problems"][0]["code"] == "database_unreachable"
        assert "Start PostgreSQL" in body["problems"][0]["fix"]
        # the screens' data routes say what is wrong in one sentence, not "something went wrong"
        answer = requests.get(f"{server.url}/api/campaigns", headers=bearer(server.token), timeout=15)
        assert answer.status_code == 503 and answer.json()["error"] == "store_unavailable"
        assert "retries by itself" in answer.json()["message"]

        time.sleep(1.5)  # the dispatcher meets the outage for a while
        cluster.start()
        wait_for(lambda: _health(server)[0] == 200, timeout=15, what="health ok once PostgreSQL is back")
        _finishes_with_each_recipient_once(server, campaign_id, smtp)


def test_it_logs_to_stderr_in_one_line_when_the_log_file_cannot_be_written(tmp_path: Path, capsys) -> None:
    with small_tmpfs(tmp_path / "logs", size="1m") as folder:
        handler = FallbackFileHandler(folder / "bulkmsg.log", maxBytes=0, encoding="utf-8")
        handler.addFilter(OutageFilter())
        record = logging.LogRecord("bulkmsg.test", logging.WARNING, __file__, 1, "a line %s", ("x" * 1000,), None)
        fill(folder)
        for _ in range(50):
            handler.emit(record)
        err = capsys.readouterr().err
        assert err.count("cannot write the log file") == 1 and "No space left on device" in err
        assert "Traceback" not in err and "Logging error" not in err
        handler.close()


def test_it_turns_a_store_outage_traceback_into_one_line() -> None:
    from sqlalchemy.exc import OperationalError

    try:
        raise OperationalError("INSERT ...", {}, Exception("database or disk is full"))
    except OperationalError:
        record = logging.LogRecord("bulkmsg.test", logging.ERROR, __file__, 1, "claim failed", None, None)
        record.exc_info = __import__("sys").exc_info()
    OutageFilter().filter(record)
    line = logging.Formatter("%(message)s").format(record)
    assert line == "claim failed (database or disk is full)"
    # a provider refusing a connection is not the store's trouble: its traceback stays
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError:
        other = logging.LogRecord("bulkmsg.test", logging.ERROR, __file__, 1, "send failed", None, None)
        other.exc_info = __import__("sys").exc_info()
    OutageFilter().filter(other)
    assert other.exc_info is not None


pytestmark = pytest.mark.browser
