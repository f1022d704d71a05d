"""One round trip per email over a server that offers PIPELINING (RFC 2920 section 3.1), and every reply still
applied to its own message: against a real aiosmtpd, directly or behind a delay line (tests/fakes/delay_line.py)
that puts it a real network's round trip away."""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from backend.channels.base import ChannelContext, OutboundMessage, SendError
from backend.channels.smtp.channel import SmtpChannel
from backend.store.models import Message
from tests.campaign_helpers import add_contacts, configure_smtp
from tests.fakes.delay_line import DelayLine
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import wait_for
from tests.test_campaigns_actions import act, create


class WorkerQueue:
    """A dispatcher worker's queue as `send_run` sees it (backend.channels.base.SendFeed), with a log of what the
    channel did: which messages it took, started (their content left) and got an answer for."""

    def __init__(self, messages: list[OutboundMessage]) -> None:
        self.queue = deque(messages)
        self.taken: list[int] = []
        self.started: list[int] = []
        self.released: list[int] = []
        self.answers: dict[int, str | SendError] = {}

    def next_ready(self) -> OutboundMessage | None:
        if not self.queue:
            return None
        message = self.queue.popleft()
        self.taken.append(message.id)
        return message

    def starting(self, message: OutboundMessage) -> bool:
        self.started.append(message.id)
        return True

    def answered(self, message: OutboundMessage, result: str | SendError) -> None:
        assert message.id not in self.answers, "answered twice"
        self.answers[message.id] = result

    def release(self, message: OutboundMessage) -> None:
        self.released.append(message.id)

    def run(self, channel: SmtpChannel) -> None:
        first = self.queue.popleft()
        self.taken.append(first.id)
        channel.send_run(first, self)

    def back_to_queue(self) -> list[int]:
        """Taken but neither started nor answered: what the dispatcher gives back (no attempt used)."""
        return [i for i in self.taken if i not in self.answers and i not in self.started]


def email(i: int, to: str | None = None) -> OutboundMessage:
    recipient = to or f"p{i}@example.org"
    return OutboundMessage(id=i, account_id=7, channel="smtp", recipient=recipient, body=f"Hello {i}", subject="News")


def make_channel(settings: dict[str, Any], tmp_path: Path) -> SmtpChannel:
    plain, secrets = SmtpChannel.validate_settings(settings)
    return SmtpChannel(plain, secrets, ChannelContext(account_id=7, data_dir=tmp_path))


@pytest.fixture
def far_server() -> Iterator[tuple[FakeSmtpServer, DelayLine]]:
    """aiosmtpd (offering PIPELINING) 30 ms of round trip away."""
    with FakeSmtpServer("plain") as server, DelayLine(server.port, 0.03) as line:
        yield server, line


def test_it_sends_each_message_in_one_round_trip_with_the_next_envelope_behind_its_content(far_server, tmp_path):
    server, line = far_server
    channel = make_channel(server.settings(port=line.port), tmp_path)
    worker = WorkerQueue([email(i) for i in range(1, 7)])
    worker.run(channel)
    channel.close()

    assert [r.rcpt_tos for r in server.received] == [[f"p{i}@example.org"] for i in range(1, 7)]
    assert worker.answers == {i: f"<bulkmsg.7.{i}@example.com>" for i in range(1, 7)}
    assert worker.started == list(range(1, 7))
    # What the client wrote, as the line read it: the first envelope alone, then each message's content with its
    # final dot and the next message's MAIL, RCPT and DATA in one write: seven writes (round trips) for six mails.
    writes = [data for _, data in line.reads if b"MAIL FROM" in data or b"Message-ID" in data]
    assert writes[0] == b"MAIL FROM:<news@example.com>\r\nRCPT TO:<p1@example.org>\r\nDATA\r\n"
    for i in range(2, 7):
        write = writes[i - 1]
        assert f"Message-ID: <bulkmsg.7.{i - 1}@example.com>".encode() in write
        assert write.endswith(
            f"\r\n.\r\nMAIL FROM:<news@example.com>\r\nRCPT TO:<p{i}@example.org>\r\nDATA\r\n".encode()
        )
    assert b"Message-ID: <bulkmsg.7.6@example.com>" in writes[6] and writes[6].endswith(b"\r\n.\r\n")
    assert len(writes) == 7
    assert len({item.peer for item in server.received}) == 1


def test_it_applies_each_pipelined_reply_to_its_own_message(tmp_path):
    with FakeSmtpServer("plain") as server:
        server.refuse("gone@example.org", "550 5.1.1 No such user here")
        server.refuse("full@example.org", "452 4.2.2 Mailbox full, try later")
        server.refuse_data("spam@example.org", "554 5.7.1 Message rejected as spam")
        server.refuse_data("later@example.org", "451 4.7.1 Greylisted, try again later")
        names = ["ok1", "gone", "ok2", "full", "spam", "ok3", "later", "ok4"]
        worker = WorkerQueue([email(i, f"{name}@example.org") for i, name in enumerate(names, 1)])
        channel = make_channel(server.settings(), tmp_path)
        worker.run(channel)
        channel.close()
        arrived = [r.rcpt_tos for r in server.received]
        peers = {item.peer for item in server.received}

    answers = dict(zip(names, (worker.answers[i] for i in range(1, len(names) + 1)), strict=True))
    for name in ("ok1", "ok2", "ok3", "ok4"):
        assert isinstance(answers[name], str) and answers[name].startswith("<bulkmsg.7.")
    gone, full, spam, later = answers["gone"], answers["full"], answers["spam"], answers["later"]
    assert isinstance(gone, SendError) and gone.permanent and gone.opt_out == "email"
    assert gone.reason == "550 5.1.1 No such user here"
    assert isinstance(full, SendError) and not (full.permanent or full.uncertain or full.outage)
    assert "452 4.2.2 Mailbox full" in full.reason
    assert isinstance(spam, SendError) and spam.permanent and spam.opt_out is None and "554 5.7.1" in spam.reason
    assert isinstance(later, SendError) and not (later.permanent or later.uncertain or later.outage)
    assert "451 4.7.1 Greylisted" in later.reason
    assert arrived == [["ok1@example.org"], ["ok2@example.org"], ["ok3@example.org"], ["ok4@example.org"]]
    assert len(peers) == 1  # refusals leave the connection usable
    # The send journal's "started": only the messages whose content left (refused at RCPT: never started).
    assert worker.started == [1, 3, 5, 6, 7, 8]


def test_it_makes_only_the_message_whose_content_left_uncertain_when_the_connection_drops_mid_group(
    far_server, tmp_path
):
    server, line = far_server
    server.drop_during_data("lost@example.org")
    channel = make_channel(server.settings(port=line.port), tmp_path)
    worker = WorkerQueue([email(1), email(2, "lost@example.org"), email(3), email(4)])
    worker.run(channel)

    lost = worker.answers[2]
    assert isinstance(worker.answers[1], str)
    assert isinstance(lost, SendError) and lost.uncertain and "lost while sending the message" in lost.reason
    # Message 3's envelope rode with message 2's content; its content never left: back to the queue, unanswered.
    assert worker.back_to_queue() == [3] and 3 not in worker.started
    assert list(worker.queue) == [email(4)]  # never taken
    assert [r.rcpt_tos for r in server.received] == [["p1@example.org"]]

    again = WorkerQueue([email(3), email(4)])
    again.run(channel)  # a new connection
    channel.close()
    assert [r.rcpt_tos for r in server.received] == [["p1@example.org"], ["p3@example.org"], ["p4@example.org"]]
    assert isinstance(again.answers[3], str) and isinstance(again.answers[4], str)


@pytest.mark.parametrize("where", ["rcpt", "dot"])
def test_it_calls_a_421_mid_group_an_outage_and_sends_nothing_after_it(far_server, tmp_path, where):
    server, line = far_server
    if where == "rcpt":
        server.refuse("closing@example.org", "421 4.3.2 Service shutting down", times=1)
    else:
        server.refuse_data("closing@example.org", "421 4.3.2 Service shutting down")
    channel = make_channel(server.settings(port=line.port), tmp_path)
    worker = WorkerQueue([email(1), email(2, "closing@example.org"), email(3), email(4)])
    worker.run(channel)
    channel.close()

    closing = worker.answers[2]
    assert isinstance(worker.answers[1], str)
    assert isinstance(closing, SendError) and closing.outage and not closing.uncertain and not closing.permanent
    assert "421 4.3.2 Service shutting down" in closing.reason
    assert 3 not in worker.answers and 3 not in worker.started  # back to the queue (if it was taken at all)
    assert [r.rcpt_tos for r in server.received] == [["p1@example.org"]]


def test_it_hands_the_next_message_back_when_an_answer_is_late(tmp_path):
    with FakeSmtpServer("plain") as server:
        server.hang_during_data("slow@example.org")
        channel = make_channel(server.settings(timeout_s=2), tmp_path)  # late after 0.5 s, lost after 2 s
        worker = WorkerQueue([email(1, "slow@example.org"), email(2), email(3)])
        worker.run(channel)
        channel.close()
        server.release_hangs()

    slow = worker.answers[1]
    assert isinstance(slow, SendError) and slow.uncertain
    assert worker.released == [2] and 2 not in worker.started and 2 not in worker.answers
    assert list(worker.queue) == [email(3)]


def test_it_sends_command_by_command_to_a_server_without_pipelining_even_in_a_run(tmp_path):
    with FakeSmtpServer("plain", pipelining=False) as server:
        server.refuse("gone@example.org", "550 5.1.1 No such user here")
        channel = make_channel(server.settings(), tmp_path)
        worker = WorkerQueue([email(1), email(2, "gone@example.org"), email(3)])
        worker.run(channel)
        channel.close()
        reads = [data for _, data in server.reads]
        arrived = [r.rcpt_tos for r in server.received]

    assert arrived == [["p1@example.org"], ["p3@example.org"]]
    assert isinstance(worker.answers[2], SendError) and worker.answers[2].permanent
    assert not any(b"MAIL FROM" in data and (b"RCPT TO" in data or b"\r\n.\r\n" in data) for data in reads)


def test_it_keeps_each_campaign_message_outcome_over_a_far_pipelining_server(client, auth, services, running):
    # The whole app over one connection 20 ms away: refusals at RCPT and at the dot, a 4xx, and a drop after a
    # message's content, with the next message's envelope in the same write.
    with FakeSmtpServer("plain") as server, DelayLine(server.port, 0.02) as line:
        server.refuse("person2@example.org", "550 5.1.1 No such user here")
        server.refuse("person4@example.org", "451 4.3.0 Try again later")
        server.refuse_data("person6@example.org", "554 5.7.1 Message rejected")
        server.drop_during_data("person8@example.org")
        account = configure_smtp(services, server.settings(port=line.port, connections=1))
        add_contacts(services, account, 12)
        campaign = create(client, auth, rate={"max_consecutive_errors": 100})
        act(client, auth, campaign["id"], "start")

        def settled() -> dict[str, tuple[str, int, str | None]] | None:
            with services.db.read() as session:
                rows = session.execute(
                    select(Message.recipient, Message.status, Message.attempts, Message.last_error).where(
                        Message.campaign_id == campaign["id"]
                    )
                ).all()
            found = {r.split("@")[0]: (status, attempts, error) for r, status, attempts, error in rows}
            busy = [name for name, (status, _, _) in found.items() if status in ("sending",)]
            waiting = [name for name, (status, _, _) in found.items() if status == "queued" and name != "person4"]
            return None if busy or waiting or found["person4"][0] != "queued" else found

        found = wait_for(settled, timeout=60, what="every message but the 4xx one settled")
        arrivals = server.arrivals()

    assert found.pop("person2")[:2] == ("failed", 1)
    assert found.pop("person6")[:2] == ("failed", 1)
    status, attempts, error = found.pop("person4")
    assert (status, attempts) == ("queued", 1) and error is not None and "451 4.3.0" in error
    status, attempts, error = found.pop("person8")
    assert status == "uncertain" and error is not None and "lost while sending" in error
    # person9's envelope went with person8's content: requeued without using an attempt, then sent once.
    assert found == {f"person{i}": ("sent", 1, None) for i in (0, 1, 3, 5, 7, 9, 10, 11)}
    assert sorted(arrivals) == sorted(f"person{i}@example.org" for i in (0, 1, 3, 5, 7, 9, 10, 11))
    assert set(arrivals.values()) == {1}


def test_it_records_each_start_just_before_its_own_content_and_sends_nothing_once_one_cannot_be(far_server, tmp_path):
    # The dispatcher's start hook (content_going_out) inside the pipelined write: each message's own hook runs
    # just before its content leaves, after the previous message was answered; the third one cannot be recorded
    # (the disk is full): its content never goes, and the fourth, whose envelope would have ridden with it, goes
    # back to the queue.
    server, line = far_server
    hooked: list[tuple[int, list[str]]] = []

    def hook(i: int) -> Any:
        def content_going_out() -> None:
            hooked.append((i, [r.rcpt_tos[0] for r in server.received]))
            if i == 3:
                raise SendError("Waiting for the disk: the send journal cannot be written", outage=True)

        return content_going_out

    messages = [dataclasses.replace(email(i), content_going_out=hook(i)) for i in range(1, 6)]
    channel = make_channel(server.settings(port=line.port), tmp_path)
    worker = WorkerQueue(messages)
    worker.run(channel)
    channel.close()

    assert [i for i, _ in hooked] == [1, 2, 3]
    assert hooked[0][1] == [] and hooked[1][1] == ["p1@example.org"]  # message 1 answered before 2's content
    assert hooked[2][1] == ["p1@example.org", "p2@example.org"]
    assert isinstance(worker.answers[1], str) and isinstance(worker.answers[2], str)
    stopped = worker.answers[3]
    assert isinstance(stopped, SendError) and stopped.outage and not stopped.uncertain
    assert worker.back_to_queue() == [4] and [m.id for m in worker.queue] == [5]
    assert [r.rcpt_tos for r in server.received] == [["p1@example.org"], ["p2@example.org"]]
    # Message 3's content never reached the wire.
    assert not any(b"Hello 3" in data for _, data in line.reads)


def test_it_refuses_a_message_over_the_servers_size_in_a_pipelined_run_before_any_of_it_is_sent(tmp_path):
    with FakeSmtpServer("plain", size_limit=2000) as server:
        big = dataclasses.replace(email(2), body="x" * 3000)
        worker = WorkerQueue([email(1), big, email(3)])
        channel = make_channel(server.settings(), tmp_path)
        worker.run(channel)
        channel.close()
        reads = [data for _, data in server.reads]
        arrived = [r.rcpt_tos for r in server.received]

    refused = worker.answers[2]
    assert isinstance(refused, SendError) and refused.permanent
    assert "the mail server takes at most" in refused.reason
    assert isinstance(worker.answers[1], str) and isinstance(worker.answers[3], str)
    assert arrived == [["p1@example.org"], ["p3@example.org"]]
    assert not any(b"p2@example.org" in data for data in reads)  # not even its envelope
    assert 2 not in worker.started
