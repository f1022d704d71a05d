# ruff: noqa: F811 - pytest fixtures imported from tests/fakes/whatsapp_web are requested by name
"""Only one process drives an account's WhatsApp session, through a lease in the database (DESIGN section 12)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from backend.channels.whatsapp import WhatsAppChannel
from backend.store.db import Database
from backend.store.leases import DatabaseLease
from backend.store.migrate import upgrade
from backend.store.models import Lease, utcnow
from backend.store.process import worker_id
from tests.fakes.whatsapp_web import (
    StatusRecorder,
    leftover_browser_processes,
    wait_until,
    whatsapp_context,
)
from tests.fakes.whatsapp_web.fixtures import chromium_paths, fake_whatsapp_web  # noqa: F401 (fixtures)

NAME = "whatsapp:1"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


def test_it_lets_only_one_process_hold_the_session(db):
    first = DatabaseLease(db, NAME, "host-a:1:whatsapp")
    second = DatabaseLease(db, NAME, "host-b:2:whatsapp")

    assert first.acquire() is None
    assert second.acquire() == "host-a:1:whatsapp"
    assert first.acquire() is None, "taking it again while holding it is fine"
    assert first.renew() and not second.renew()

    first.release()
    assert second.acquire() is None
    assert first.acquire() == "host-b:2:whatsapp"


def test_it_frees_a_lease_nobody_renews(db):
    stale = DatabaseLease(db, NAME, "host-a:1:whatsapp", ttl_s=0.3)
    newcomer = DatabaseLease(db, NAME, "host-b:2:whatsapp")
    assert stale.acquire() is None
    assert newcomer.acquire() == "host-a:1:whatsapp"
    time.sleep(0.4)
    assert newcomer.acquire() is None
    assert not stale.renew(), "a lease that was taken over is never silently re-taken by renew"


def test_it_takes_over_at_once_from_a_crashed_process_of_this_host(db):
    crashed = subprocess.Popen([sys.executable, "-c", "pass"])
    crashed.wait(10)
    dead_owner = f"{socket.gethostname()}:{crashed.pid}:whatsapp-session"
    with db.write() as session:
        session.add(Lease(name=NAME, owner=dead_owner, until=utcnow() + timedelta(hours=1)))

    assert DatabaseLease(db, NAME, worker_id("whatsapp-session")).acquire() is None


@pytest.mark.browser
def test_it_refuses_a_second_session_and_gives_up_a_lost_one(tmp_path, db, fake_whatsapp_web, chromium_paths):
    holder = DatabaseLease(db, NAME, "other-host:42:whatsapp-session")
    assert holder.acquire() is None

    recorder = StatusRecorder()
    context = whatsapp_context(tmp_path, fake_whatsapp_web.url, recorder, chromium_paths)
    context.options["session_lease"] = DatabaseLease(db, NAME, worker_id("whatsapp-session"), ttl_s=0.9)
    channel = WhatsAppChannel({}, {}, context)
    channel.connect()
    recorder.wait_for_text(
        "Failed to initialize client: WhatsApp is connected in another process (other-host:42:whatsapp-session)"
    )
    wait_until(lambda: not channel.session.running, what="the refused session to end")
    assert leftover_browser_processes(channel.profile_dir) == [], "no Chromium without the lease"

    holder.release()
    recorder.clear()
    channel.connect()
    recorder.wait_for_text("Scan QR code to authenticate")
    time.sleep(1.0)  # a few renewals (every 0.3 s) keep it ours
    assert channel.state == "qr"

    with db.write() as session:  # another process takes the session (e.g. after our lease looked expired)
        session.execute(update(Lease).where(Lease.name == NAME).values(owner="other-host:43:whatsapp-session"))
    recorder.wait_for_text("Client disconnected: another process took over the WhatsApp session")
    wait_until(lambda: not channel.session.running, what="the session to end")
    assert leftover_browser_processes(channel.profile_dir) == []
    with db.read() as session:
        assert session.get(Lease, NAME).owner == "other-host:43:whatsapp-session", "their lease is left alone"
    channel.close()
