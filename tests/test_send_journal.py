"""The send journal and what recovery makes of it: a dead dispatcher's batch is settled message by message
(answered -> recorded, never started -> queued again, in flight -> uncertain), and a journal it cannot trust
(another boot) leaves every claimed message `uncertain`, as without a journal."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from backend.accounts import get_or_create_account
from backend.app import create_app
from backend.dispatch.claims import claim_next
from backend.dispatch.journal import SendJournal, journal_dir, read_journal
from backend.dispatch.outcomes import Outcome
from backend.dispatch.recovery import LOST_SEND, recover_lost_sends
from backend.store.migrate import upgrade
from backend.store.models import Campaign, Event, Message, utcnow
from tests.campaign_helpers import queue_campaign


def dead_owner() -> str:
    """The lease owner name of a process of this host that has ended."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return f"{socket.gethostname()}:{int(ended.stdout)}:dispatch-1-smtp"


def test_it_writes_every_kind_of_answer_so_that_it_reads_back_the_same() -> None:
    now = utcnow()
    for outcome in (
        Outcome("sent", provider_message_id='<7"quoted"@example.com>'),
        Outcome("failed", error="550 5.1.1 No such user"),
        Outcome("queued", error="Daily limit", retry_at=now, pause_campaign=True, resume_at=now + timedelta(hours=7)),
        Outcome("uncertain", error=LOST_SEND, interrupted=True),
    ):
        assert Outcome.from_json(outcome.to_json()) == outcome


def test_it_reads_back_what_was_started_and_answered(tmp_path) -> None:
    journal = SendJournal(tmp_path, "host:1:dispatch-1-smtp")
    journal.started(7)
    journal.finished(7, Outcome("sent", provider_message_id="<7@example.com>"))
    journal.started(8)
    journal.finished(8, Outcome("queued", error="451 later", retry_at=utcnow()))
    journal.started(9)
    with open(journal.path, "ab") as raw:  # a write the kill cut short
        raw.write(b'O 9 {"status":"se')
    contents = read_journal(journal.path)
    assert contents is not None and contents.owner == "host:1:dispatch-1-smtp" and contents.trusted
    assert contents.started == {7, 8, 9}
    assert contents.outcomes[7] == Outcome("sent", provider_message_id="<7@example.com>")
    assert contents.outcomes[8].status == "queued" and contents.outcomes[8].retry_at is not None
    assert 9 not in contents.outcomes  # its answer never made it: in flight

    journal.committed()  # 7 and 8 are in the store; 9 is still in flight (another worker's send)
    left = read_journal(journal.path)
    assert left is not None and left.started == {9} and left.outcomes == {}
    journal.finished(9, Outcome("sent", provider_message_id="<9@example.com>"))
    journal.committed([9])
    emptied = read_journal(journal.path)
    assert emptied is not None and emptied.started == set() and emptied.outcomes == {}
    assert oct(os.stat(journal.path).st_mode & 0o777) == "0o600"
    journal.close()
    assert not journal.path.exists()


@pytest.fixture
def services(config, database_url) -> Iterator[Any]:
    """The app's services (with the campaign hooks) on SQLite and on PostgreSQL."""
    app = create_app(config.replace(database_url=database_url))
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    yield services
    services.channels.close_all()
    services.db.dispose()


def _running_campaign(services, n: int) -> tuple[int, int]:
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
    return account_id, queue_campaign(services, account_id, n)


def _claim_all(services, account_id: int, owner: str, n: int) -> list[int]:
    with services.db.write() as session:
        claimed = claim_next(
            session, account_id=account_id, channel="smtp", owner=owner, now=utcnow(), lease_s=3600, limit=n
        )
    return [m.id for m in claimed]


def _state(services, campaign_id: int) -> dict[str, tuple[str, int, str | None]]:
    with services.db.read() as session:
        rows = session.execute(
            select(Message.recipient, Message.status, Message.attempts, Message.lease_owner).where(
                Message.campaign_id == campaign_id
            )
        ).all()
    return {recipient: (status, attempts, owner) for recipient, status, attempts, owner in rows}


def _held_by_a_dead_dispatcher(services, config, queued: int, claimed: int) -> tuple[int, list[int], SendJournal]:
    """A running campaign of `queued` messages, `claimed` of them claimed by a dispatcher whose process ended,
    and that dispatcher's journal (still empty)."""
    account_id, campaign_id = _running_campaign(services, queued)
    owner = dead_owner()
    ids = _claim_all(services, account_id, owner, claimed)
    return campaign_id, ids, SendJournal(journal_dir(config.data_dir), owner)


def test_it_settles_a_dead_dispatchers_batch_from_its_journal(config, services) -> None:
    campaign_id, ids, journal = _held_by_a_dead_dispatcher(services, config, queued=5, claimed=5)
    journal.started(ids[0])
    journal.finished(ids[0], Outcome("sent", provider_message_id="<a@example.com>"))
    journal.started(ids[1])
    journal.finished(ids[1], Outcome("failed", error="550 5.1.1 No such user"))
    journal.started(ids[2])  # killed here: ids[3] and ids[4] were claimed, never started
    half_written = journal.path.with_name(journal.path.name + ".new")  # and in the middle of a compaction
    half_written.write_bytes(b"bulkmsg-send-journal 1\n")

    assert recover_lost_sends(services) == 5
    state = _state(services, campaign_id)
    assert state["person0@example.org"] == ("sent", 1, None)
    assert state["person1@example.org"] == ("failed", 1, None)
    assert state["person2@example.org"] == ("uncertain", 1, None)
    assert state["person3@example.org"] == state["person4@example.org"] == ("queued", 0, None)
    with services.db.read() as session:
        texts = list(session.scalars(select(Event.text).where(Event.type == "send.progress").order_by(Event.id)))
        campaign = session.get(Campaign, campaign_id)
        assert (campaign.sent_count, campaign.failed_count, campaign.uncertain_count) == (1, 1, 1)
    assert texts == [
        "Sent to person0@example.org",
        "Failed to send to person1@example.org: 550 5.1.1 No such user",
        f"Not sure whether person2@example.org got the message: {LOST_SEND}",
    ]
    assert not journal.path.exists() and not half_written.exists()
    assert recover_lost_sends(services) == 0  # settled once


def test_it_trusts_no_journal_from_an_earlier_boot(config, services) -> None:
    campaign_id, ids, journal = _held_by_a_dead_dispatcher(services, config, queued=13, claimed=12)
    journal.started(ids[0])
    journal.finished(ids[0], Outcome("sent", provider_message_id="<a@example.com>"))
    lines = journal.path.read_bytes().split(b"\n")
    magic, version, _boot, name = lines[0].split(b" ")
    journal.path.write_bytes(b"\n".join([b" ".join([magic, version, b"another-boot", name]), *lines[1:]]))

    assert recover_lost_sends(services) == 12
    state = _state(services, campaign_id)
    assert sorted(status for status, _, _ in state.values()) == ["queued"] + ["uncertain"] * 12
    with services.db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        # An interruption is not the campaign's fault: twelve of them are not "errors in a row".
        assert (campaign.status, campaign.uncertain_count, campaign.consecutive_errors) == ("running", 12, 0)


def test_it_leaves_the_journal_of_a_live_process_alone(config, services) -> None:
    account_id, campaign_id = _running_campaign(services, 2)
    owner = f"{socket.gethostname()}:{os.getpid()}:dispatch-1-smtp"  # this very process
    ids = _claim_all(services, account_id, owner, 2)
    journal = SendJournal(journal_dir(config.data_dir), owner)
    journal.started(ids[0])
    assert recover_lost_sends(services) == 0
    assert {status for status, _, _ in _state(services, campaign_id).values()} == {"sending"}
    assert journal.path.exists()
    journal.close()
