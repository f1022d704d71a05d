"""Outages are not message errors (issue 13 item 1, DESIGN section 5): the SMTP server killed and restarted on the
same port for about 10 s in the middle of a 3,000-message campaign. The campaign finishes by itself, no recipient
gets two copies, whatever is missing is `uncertain`, and the channel's state says what happens as it happens.

The server is aiosmtpd in its own process (`python -m tests.fakes.smtp_server --port N --log FILE`), killed with
SIGKILL; it appends each accepted message's recipient to FILE before answering, so what arrived survives the kill.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backend.store.models import Event, Message
from tests.campaign_helpers import add_contacts, configure_smtp, wait_status
from tests.fakes.smtp_server import FakeSmtpServer, free_port
from tests.helpers import wait_for
from tests.test_campaigns_actions import act, create

ROOT = Path(__file__).resolve().parent.parent
N = int(os.environ.get("BULKMSG_OUTAGE_SIZE", "3000"))
OUTAGE_S = 10.0


class SmtpProcess:
    def __init__(self, port: int, log: Path) -> None:
        args = [sys.executable, "-m", "tests.fakes.smtp_server", "--port", str(port), "--log", str(log)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "PORT n" once it listens
        assert line.startswith("PORT "), line

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def servers() -> Iterator[list[SmtpProcess]]:
    started: list[SmtpProcess] = []
    yield started
    for server in started:
        server.kill()


def arrived(log: Path) -> list[str]:
    try:
        return [line for line in log.read_text().splitlines() if line]
    except FileNotFoundError:
        return []


def channel_states(services: Any, account_id: int) -> list[tuple[str, str]]:
    with services.db.read() as session:
        events = session.scalars(
            select(Event).where(Event.account_id == account_id, Event.type == "channel.status").order_by(Event.id)
        ).all()
        return [(e.data["state"], e.data["detail"]) for e in events if e.data.get("channel") == "smtp"]


def test_it_rides_out_an_smtp_server_outage_without_a_click(tmp_path, client, auth, services, running, servers):
    port, log = free_port(), tmp_path / "arrived.log"
    servers.append(SmtpProcess(port, log))
    settings = {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "news@example.com"}
    account = configure_smtp(services, settings)
    add_contacts(services, account, N)
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")

    wait_for(lambda: len(arrived(log)) >= N // 3, timeout=60, what="a third of the campaign")
    servers[-1].kill()  # the server is gone: connections drop, new ones are refused
    wait_for(
        lambda: any(state == "error" for state, _ in channel_states(services, account)),
        timeout=10,
        what="the channel to say it is down",
    )
    time.sleep(OUTAGE_S)  # the outage itself: the point is how long the server stays away
    assert len(arrived(log)) < N
    servers.append(SmtpProcess(port, log))  # back on the same port

    done = wait_status(client, auth, campaign["id"], "completed", timeout=120)
    with services.db.read() as session:
        found = dict(
            session.execute(
                select(Message.recipient, Message.status).where(Message.campaign_id == campaign["id"])
            ).all()
        )
    copies = Counter(arrived(log))
    assert [r for r, n in copies.items() if n > 1] == [], "a recipient got two copies"
    uncertain = {r for r, status in found.items() if status == "uncertain"}
    missing = {f"person{i}@example.org" for i in range(N)} - set(copies)
    assert missing <= uncertain, f"lost without a trace: {sorted(missing - uncertain)[:5]}"
    assert set(found.values()) <= {"sent", "uncertain"}
    assert len(uncertain) <= 4, "at most the sends in flight on the 4 connections when it died"
    assert done["counts"]["sent"] == N - len(uncertain)

    states = channel_states(services, account)
    down = [detail for state, detail in states if state == "error"]
    assert down[0].startswith("The SMTP server")
    assert any(d == "The SMTP server refused the connection; trying again in 8 s" for d in down), down
    assert states[-1][0] == "ready", states[-3:]  # and it says so when the server answers again
    # Nobody clicked Resume: the campaign never paused.
    with services.db.read() as session:
        texts = session.scalars(select(Event.text).where(Event.type == "campaign.status")).all()
    assert not any(t.startswith("Campaign paused") for t in texts), texts


def test_it_keeps_a_refused_message_queued_without_using_its_attempts(client, auth, services, running):
    port = free_port()
    settings = {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "news@example.com"}
    account = configure_smtp(services, settings)
    add_contacts(services, account, 3)
    campaign = create(client, auth)
    # Its replies 0.5 s away: the campaign starts (the server is checked first), and the server goes away before
    # any message's content could leave; from then on every connection is refused.
    with FakeSmtpServer("plain", port=port, reply_delay_s=0.5):
        act(client, auth, campaign["id"], "start")
    wait_for(
        lambda: any(d.endswith("trying again in 2 s") for _, d in channel_states(services, account)),
        timeout=20,
        what="a second connection attempt",
    )

    def held() -> list[tuple[str, int]]:
        with services.db.read() as session:
            query = select(Message.status, Message.attempts).where(Message.campaign_id == campaign["id"])
            return sorted((status, attempts) for status, attempts in session.execute(query))

    # Refused again and again, yet not one attempt used. (A probe is `sending` for the moment it takes to be refused
    # and recorded; an attempt used for good would never give this picture.)
    wait_for(lambda: held() == [("queued", 0)] * 3, timeout=10, what="every message queued with no attempt used")
    state, detail = channel_states(services, account)[-1]
    assert state == "error" and detail.startswith("The SMTP server refused the connection; trying again in ")

    with FakeSmtpServer("plain", port=port) as server:  # the server is back
        done = wait_status(client, auth, campaign["id"], "completed", timeout=30)
        assert sorted(server.arrivals().values()) == [1, 1, 1]
    assert done["counts"]["sent"] == 3
    with services.db.read() as session:
        assert sorted(session.scalars(select(Message.attempts).where(Message.campaign_id == campaign["id"]))) == [1] * 3
    assert channel_states(services, account)[-1][0] == "ready"
