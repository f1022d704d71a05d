"""An inbox (IMAP) outage shows (issue 23 item 5): with the SMTP channel's Dovecot killed, `GET /api/health` lists
it under `warnings` (sending goes on: still 200) and the SMTP channel says why and when it tries again; both clear
by themselves when Dovecot is back. Real parts: Dovecot killed with SIGKILL and started again on its port, the
app's real server."""

from __future__ import annotations

from collections.abc import Iterator

import psutil
import pytest
import requests

from tests.fakes import dovecot
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import bearer, require, wait_for


@pytest.fixture
def imap() -> Iterator[dovecot.Dovecot]:
    reason = dovecot.available()
    require(reason is None, reason or "")
    with dovecot.Dovecot() as server:
        yield server


def test_it_shows_an_inbox_outage_in_health_and_on_the_channel_until_the_server_is_back(live_server, imap) -> None:
    http = requests.Session()
    http.trust_env = False
    http.headers.update(bearer(live_server.token))
    base = live_server.url
    services = live_server.app.extensions["bulkmsg"]
    with FakeSmtpServer() as smtp:
        saved = http.put(f"{base}/api/channels/smtp", json={**smtp.settings(), **imap.settings()}, timeout=20)
        assert saved.status_code == 200, saved.text
        wait_for(lambda: services.inbox_watcher.watching(1), timeout=15, what="the inbox to be in IDLE")

        def smtp_channel() -> dict:
            return next(c for c in http.get(f"{base}/api/channels", timeout=10).json() if c["channel"] == "smtp")

        assert smtp_channel()["inbox"]["state"] == "ok"
        assert "warnings" not in requests.get(f"{base}/api/health", timeout=10).json()

        assert imap._process is not None
        master = psutil.Process(imap._process.pid)
        for proc in [*master.children(recursive=True), master]:  # Dovecot dies, the IDLE session's process too
            proc.kill()
        imap._process.wait(10)
        imap._process = None

        health = wait_for(
            lambda: (body := requests.get(f"{base}/api/health", timeout=10).json()).get("warnings") and body,
            timeout=30,
            what="health to show the inbox outage",
        )
        assert health["status"] == "ok"  # sending does not depend on the inbox
        [warning] = health["warnings"]
        assert warning["code"] == "inbox_unreachable"
        assert "An email inbox (IMAP) cannot be read" in warning["message"] and "trying again in" in warning["message"]
        assert str(imap.port) not in warning["message"]  # no server name in an answer given without a token
        assert warning["retry_at"] >= warning["since"]

        channel = wait_for(
            lambda: "Could not connect to an IMAP inbox" in (c := smtp_channel())["detail"] and c,
            timeout=30,
            what="the channel to say the inbox cannot be reached",
        )
        assert channel["state"] == "ready"  # mail still goes out
        assert "the inbox (IMAP) cannot be read: Could not connect to an IMAP inbox" in channel["detail"]
        assert "trying again in" in channel["detail"]
        assert channel["inbox"]["state"] == "error" and channel["inbox"]["retry_at"]

        imap.start()  # back on the same port
        wait_for(lambda: "warnings" not in requests.get(f"{base}/api/health", timeout=10).json(), timeout=90)
        assert smtp_channel()["inbox"]["state"] == "ok"
        assert "cannot be read" not in smtp_channel()["detail"]


def test_an_inbox_read_only_by_the_poll_shows_its_outage_and_heals_by_itself(start_server) -> None:
    # A server without IDLE (Dovecot announcing no IDLE) is read by the poll alone: the poll's failed read is the
    # outage (health, channel), its next successful read ends it. The watcher leaves such an inbox alone.
    reason = dovecot.available()
    require(reason is None, reason or "")
    server = start_server(inbox_poll_s=1.0)
    services = server.app.extensions["bulkmsg"]
    http = requests.Session()
    http.trust_env = False
    http.headers.update(bearer(server.token))
    with dovecot.Dovecot(idle=False) as imap, FakeSmtpServer() as smtp:
        saved = http.put(f"{server.url}/api/channels/smtp", json={**smtp.settings(), **imap.settings()}, timeout=20)
        assert saved.status_code == 200, saved.text
        wait_for(lambda: services.inbox_watcher.polled_only(1), timeout=15, what="the inbox to be left to the poll")
        assert not services.inbox_watcher.watching(1)

        def smtp_channel() -> dict:
            return next(c for c in http.get(f"{server.url}/api/channels", timeout=10).json() if c["channel"] == "smtp")

        assert imap._process is not None
        imap._process.terminate()  # Dovecot stopped: its port refuses connections
        imap._process.wait(10)
        imap._process = None

        health = wait_for(
            lambda: (body := requests.get(f"{server.url}/api/health", timeout=10).json()).get("warnings") and body,
            timeout=30,
            what="health to show the polled inbox's outage",
        )
        [warning] = health["warnings"]
        assert warning["code"] == "inbox_unreachable" and "the mail server cannot be reached" in warning["message"]
        channel = smtp_channel()
        assert channel["state"] == "ready" and channel["inbox"]["state"] == "error"
        assert "the inbox (IMAP) cannot be read" in channel["detail"] and channel["inbox"]["retry_at"]
        assert services.inbox_watcher.polled_only(1) and not services.inbox_watcher.watching(1)

        imap.start()  # back on the same port: the next poll reads it and the outage ends by itself
        wait_for(lambda: "warnings" not in requests.get(f"{server.url}/api/health", timeout=10).json(), timeout=60)
        assert smtp_channel()["inbox"]["state"] == "ok"
