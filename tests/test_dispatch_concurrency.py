"""Concurrent sending (issue 12, DESIGN section 5): one hung send blocks only its own worker, a lease outlives the
send it covers, and the recovery sweep names the real cause. Against a real aiosmtpd server that can hold back its
answer to a message's final dot (tests/fakes/smtp_server.py `hang_during_data`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from backend.channels.smtp.channel import SmtpChannel
from backend.dispatch.recovery import LOST_SEND, STALLED_SEND, recover_lost_sends
from backend.store.models import Message, utcnow
from backend.store.process import worker_id
from tests.campaign_helpers import add_contacts, configure_smtp, event_texts, queue_campaign
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import wait_for
from tests.test_campaigns_actions import act, create, view

HUNG = "person3@example.org"


@pytest.fixture
def hanging() -> Iterator[FakeSmtpServer]:
    """An SMTP server that never answers the final dot of the message to HUNG (until released)."""
    with FakeSmtpServer("plain") as server:
        server.hang_during_data(HUNG)
        yield server
        server.release_hangs()


def rows(services: Any, campaign_id: int) -> dict[str, tuple[str, str | None]]:
    with services.db.read() as session:
        found = session.execute(
            select(Message.recipient, Message.status, Message.last_error).where(Message.campaign_id == campaign_id)
        ).all()
    return {recipient: (status, error) for recipient, status, error in found}


def test_it_sends_on_beside_a_hung_send_and_makes_only_that_one_uncertain(client, auth, services, hanging, running):
    account = configure_smtp(services, hanging.settings(timeout_s=2, connections=4))
    add_contacts(services, account, 40)
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")

    # The other three connections carry the rest while one waits for an answer that never comes.
    wait_for(lambda: hanging.count >= 39, timeout=30, what="every other message")
    assert rows(services, campaign["id"])[HUNG][0] == "sending"
    wait_for(lambda: view(client, auth, campaign["id"])["status"] == "completed", timeout=30, what="completion")

    found = rows(services, campaign["id"])
    assert found.pop(HUNG)[0] == "uncertain"  # after its own timeout, that message alone
    assert {status for status, _ in found.values()} == {"sent"}
    assert sorted(hanging.arrivals().values()) == [1] * 39


def test_it_keeps_the_lease_of_a_send_that_outlasts_it(client, auth, services, hanging, running, monkeypatch):
    # Issue 12's case: a timeout of 200 s and a hung server, with leases far shorter than the send (1 s here, the
    # issue's 150 s scaled down): the dispatcher renews the leases it holds, so the sweep that runs meanwhile
    # marks nothing `uncertain`, and none of the 70 (more than a batch of 64) waits in vain.
    monkeypatch.setattr("backend.dispatch.dispatcher.LEASE_MARGIN_S", 0.5)
    monkeypatch.setattr("backend.dispatch.workers.LEASE_MARGIN_S", 0.5)
    monkeypatch.setattr(SmtpChannel, "longest_send_s", lambda self: 0.5)
    account = configure_smtp(services, hanging.settings(timeout_s=200, connections=4))
    add_contacts(services, account, 70)
    campaign = create(client, auth)
    act(client, auth, campaign["id"], "start")
    wait_for(lambda: hanging.count >= 69, timeout=30, what="every other message")

    swept = []
    deadline = utcnow() + timedelta(seconds=3)  # three lease lengths
    while utcnow() < deadline:
        swept.append(recover_lost_sends(services))
        time.sleep(0.2)  # the time is the point: the sweep runs while the leases would have run out
    assert sum(swept) == 0
    found = rows(services, campaign["id"])
    assert found[HUNG][0] == "sending"
    assert [r for r, (status, _) in found.items() if status != "sent"] == [HUNG]

    hanging.release_hangs()  # the server answers at last: 451, not taken -> queued for a retry, never uncertain
    wait_for(lambda: rows(services, campaign["id"])[HUNG][0] != "sending", timeout=10, what="the answer")
    assert rows(services, campaign["id"])[HUNG][0] == "queued"
    assert not any("stopped" in t for t in event_texts(services, account, "send.progress"))


def test_it_names_the_real_cause_when_it_marks_a_send_uncertain(services, smtp, account):
    # A lease that ran out while its process lives (this one) is not "the app stopped"; a dead process's is.
    campaign_id = queue_campaign(services, account, 2)
    alive = worker_id("dispatch-stalled")
    dead = f"{alive.split(':')[0]}:999999999:dispatch-gone"
    with services.db.write() as session:
        ids = list(session.scalars(select(Message.id).where(Message.campaign_id == campaign_id).order_by(Message.id)))
        for message_id, owner in zip(ids, (alive, dead), strict=True):
            session.execute(
                update(Message)
                .where(Message.id == message_id)
                .values(status="sending", lease_owner=owner, lease_until=utcnow() - timedelta(seconds=1), attempts=1)
            )
    assert recover_lost_sends(services) == 2
    found = rows(services, campaign_id)
    assert found["person0@example.org"] == ("uncertain", STALLED_SEND)
    assert found["person1@example.org"] == ("uncertain", LOST_SEND)


def test_after_an_error_it_sends_that_campaign_one_message_at_a_time_until_one_goes_through(
    client, auth, services, running
):
    # Four connections, but errors in a row must pause a campaign at its limit, not up to three messages later (a
    # full-suite run once saw 7 failures for a limit of 3). The first four are refused; the rest would hang at their
    # final dot: after the errors only one of them may be out at a time.
    with FakeSmtpServer("plain") as server:
        for i in range(4):
            server.refuse(f"person{i}@example.org", "554 5.7.1 Rejected")
        for i in range(4, 12):
            server.hang_during_data(f"person{i}@example.org")
        account = configure_smtp(services, server.settings(timeout_s=60, connections=4))
        add_contacts(services, account, 12)
        campaign = create(client, auth, rate={"max_consecutive_errors": 100})
        act(client, auth, campaign["id"], "start")
        wait_for(
            lambda: (c := view(client, auth, campaign["id"])["counts"])["failed"] == 4 and c["sending"] == 1,
            what="four refusals and the next message out",
        )
        time.sleep(1.0)  # time enough for three more to start, were they allowed to
        counts = view(client, auth, campaign["id"])["counts"]
        assert (counts["failed"], counts["sending"], counts["queued"]) == (4, 1, 7)
        assert len(server.mail_times()) == 5
        server.release_hangs()
