"""The SMTP channel against a real aiosmtpd server: what arrives, and how each failure is classified."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from backend.channels.base import Attachment, ChannelContext, OutboundMessage, SendError, SettingsError
from backend.channels.smtp.channel import SmtpChannel, dot_stuff
from tests.fakes.smtp_server import FakeSmtpServer, free_port


def make_channel(settings: dict[str, Any], tmp_path: Path) -> SmtpChannel:
    plain, secrets = SmtpChannel.validate_settings(settings)
    return SmtpChannel(plain, secrets, ChannelContext(account_id=1, data_dir=tmp_path))


def outbound(i: int = 1, to: str = "ana@example.org", **changes: Any) -> OutboundMessage:
    values: dict[str, Any] = dict(
        id=i, account_id=7, channel="smtp", recipient=to, body=f"Hello {i}\nSee you", subject=f"News {i}"
    )
    values.update(changes)
    return OutboundMessage(**values)


@pytest.fixture
def starttls_server() -> Any:
    with FakeSmtpServer("starttls", auth=("mailer", "s3cret")) as server:
        yield server


def test_it_delivers_a_multipart_mail_with_encoded_names_over_starttls_and_auth(starttls_server, tmp_path):
    channel = make_channel(starttls_server.settings(from_name="Café Team"), tmp_path)
    message = outbound(
        recipient_name="Zoë Müller",
        subject="Grüße aus Zürich 🎉",
        body="Hallo Zoë,\n<b>not bold</b>\nBye",
        sender_type="campaign",
        attachments=(Attachment("räport.pdf", "application/pdf", b"%PDF-1.4 tiny"),),
    )
    provider_id = channel.send(message)
    channel.close()

    (item,) = starttls_server.received
    mail = item.message
    assert provider_id == "<bulkmsg.7.1@example.com>" == mail["Message-ID"]
    assert item.rcpt_tos == ["ana@example.org"]
    assert str(mail["Subject"]) == "Grüße aus Zürich 🎉"
    assert mail["From"].addresses[0].display_name == "Café Team"
    assert mail["To"].addresses[0].display_name == "Zoë Müller"
    assert b"Z\xc3\xbcrich" not in item.raw.split(b"\r\n\r\n")[0]  # headers are 7-bit (RFC 2047)
    assert mail["List-Unsubscribe"] == "<mailto:news@example.com?subject=unsubscribe>"
    assert mail.get_content_type() == "multipart/mixed"
    assert mail.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip() == "Hallo Zoë,\n<b>not bold</b>\nBye"
    html = mail.get_body(("html",)).get_content()
    assert "Hallo Zoë,<br>" in html and "&lt;b&gt;not bold&lt;/b&gt;" in html
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_filename() == "räport.pdf"
    assert attachment.get_content() == b"%PDF-1.4 tiny"


def test_it_reuses_one_connection_for_a_whole_run(starttls_server, tmp_path):
    channel = make_channel(starttls_server.settings(), tmp_path)
    for i in range(5):
        channel.send(outbound(i, f"user{i}@example.org"))
    channel.close()
    assert len(starttls_server.received) == 5
    assert len({item.peer for item in starttls_server.received}) == 1
    assert "List-Unsubscribe" not in starttls_server.received[0].message  # a conversation reply


def test_it_delivers_lines_that_start_with_a_period_whole(starttls_server, tmp_path):
    # RFC 5321 section 4.5.2: a lone "." line would end DATA early (the rest of the mail lost) unless stuffed.
    body = "Agenda\n.\n.hidden line\n..two periods\nEnd"
    channel = make_channel(starttls_server.settings(), tmp_path)
    channel.send(outbound(body=body))
    channel.close()

    (item,) = starttls_server.received
    assert item.message.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip() == body
    assert b"\r\n.\r\n.hidden line\r\n..two periods\r\n" in item.raw
    assert dot_stuff(b".a\r\nb\r\n..c\r\n") == b"..a\r\nb\r\n...c\r\n"


def test_it_reopens_the_connection_when_the_server_dropped_it(tmp_path):
    port = free_port()
    with FakeSmtpServer("plain") as first:
        first.port = port
    server = FakeSmtpServer("plain")
    server.port = port
    server.start()
    try:
        channel = make_channel(server.settings(), tmp_path)
        channel.send(outbound(1))
        server.stop()  # the server goes away and comes back: the idle connection is dead
        server = FakeSmtpServer("plain")
        server.port = port
        server.start()
        channel.send(outbound(2, "bo@example.org"))
        channel.close()
        assert [r.rcpt_tos for r in server.received] == [["bo@example.org"]]
    finally:
        server.stop()


def test_it_pipelines_mail_rcpt_and_data_in_one_round_trip_and_recovers_a_dropped_connection(tmp_path):
    # RFC 2920: with PIPELINING offered, MAIL FROM, RCPT TO and DATA leave in one write; the server reads them in one
    # TCP read (FakeSmtpServer.reads records each read as it came off the socket).
    port = free_port()
    server = FakeSmtpServer("plain", port=port, reply_delay_s=0.02)
    server.start()
    try:
        channel = make_channel(server.settings(), tmp_path)
        channel.send(outbound(1))
        channel.send(outbound(2, "bo@example.org"))
        envelope = [data for _, data in server.reads if b"MAIL FROM" in data]
        assert len(envelope) == 2
        assert all(b"RCPT TO:<" in data and data.endswith(b"DATA\r\n") for data in envelope), envelope
        assert b"RCPT TO:<bo@example.org>" in envelope[1]
        server.stop()  # the kept connection dies between two sends
        server = FakeSmtpServer("plain", port=port)
        server.start()
        channel.send(outbound(3, "cy@example.org"))  # nothing of it had left: re-opened and sent
        channel.close()
        assert [r.rcpt_tos for r in server.received] == [["cy@example.org"]]
        assert server.received[0].message["Message-ID"] == "<bulkmsg.7.3@example.com>"
    finally:
        server.stop()


def test_it_sends_command_by_command_to_a_server_without_pipelining(tmp_path):
    with FakeSmtpServer("plain", pipelining=False) as server:
        server.refuse("gone@example.org", "550 5.1.1 No such user here")
        channel = make_channel(server.settings(), tmp_path)
        with pytest.raises(SendError) as gone:
            channel.send(outbound(1, "gone@example.org"))
        channel.send(outbound(2, "bo@example.org"))
        channel.close()
        assert gone.value.permanent
        assert [r.rcpt_tos for r in server.received] == [["bo@example.org"]]
        assert not any(b"MAIL FROM" in data and b"RCPT TO" in data for _, data in server.reads)


def test_it_keeps_one_connection_per_concurrent_send(tmp_path):
    with FakeSmtpServer("plain", reply_delay_s=0.05) as server:
        channel = make_channel(server.settings(connections=3), tmp_path)
        assert channel.concurrency() == 3
        threads = [
            threading.Thread(
                target=lambda i=i: [channel.send(outbound(i * 10 + k, f"p{i}-{k}@example.org")) for k in range(3)]
            )
            for i in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        channel.close()
        assert len(server.received) == 9
        # Three sends at a time, each connection reused for three messages.
        assert sorted(Counter(item.peer for item in server.received).values()) == [3, 3, 3]


def test_it_calls_a_refused_connection_an_outage_not_a_message_error(tmp_path):
    port = free_port()  # nothing listens there
    channel = make_channel(
        {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "a@example.com"}, tmp_path
    )
    with pytest.raises(SendError) as refused:
        channel.send(outbound(1))
    assert refused.value.outage and not refused.value.permanent and not refused.value.uncertain
    assert refused.value.reason == "The SMTP server refused the connection"


def test_it_calls_a_421_an_outage(tmp_path):
    with FakeSmtpServer("plain") as server:
        server.refuse("ana@example.org", "421 4.3.2 Service shutting down", times=1)
        channel = make_channel(server.settings(), tmp_path)
        with pytest.raises(SendError) as closing:
            channel.send(outbound(1))
        assert closing.value.outage and "421 4.3.2 Service shutting down" in closing.value.reason
        channel.send(outbound(2))
        channel.close()
        assert [r.rcpt_tos for r in server.received] == [["ana@example.org"]]


def test_it_fails_a_5xx_recipient_for_good_and_retries_a_4xx_one(starttls_server, tmp_path):
    starttls_server.refuse("gone@example.org", "550 5.1.1 No such user here")
    starttls_server.refuse("full@example.org", "452 4.2.2 Mailbox full, try later")
    channel = make_channel(starttls_server.settings(), tmp_path)
    with pytest.raises(SendError) as gone:
        channel.send(outbound(1, "gone@example.org"))
    assert gone.value.permanent and "550 5.1.1 No such user here" in gone.value.reason
    with pytest.raises(SendError) as full:
        channel.send(outbound(2, "full@example.org"))
    assert not full.value.permanent and not full.value.uncertain and "452" in full.value.reason
    channel.send(outbound(3, "fine@example.org"))  # the same connection still works
    channel.close()
    assert [r.rcpt_tos for r in starttls_server.received] == [["fine@example.org"]]


def test_it_calls_a_send_uncertain_when_the_connection_drops_during_data(starttls_server, tmp_path):
    starttls_server.drop_during_data("lost@example.org")
    channel = make_channel(starttls_server.settings(), tmp_path)
    with pytest.raises(SendError) as lost:
        channel.send(outbound(1, "lost@example.org"))
    assert lost.value.uncertain
    channel.send(outbound(2, "next@example.org"))  # re-opened
    channel.close()
    assert [r.rcpt_tos for r in starttls_server.received] == [["next@example.org"]]


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hi\r\nBcc: victim@example.net"},
        {"recipient_name": "Eve\nBcc: victim@example.net"},
        {"recipient": "ana@example.org\r\nBcc: victim@example.net"},
        {"headers": {"X-Note": "a\nb"}},
    ],
)
def test_it_refuses_header_injection_before_sending(starttls_server, tmp_path, changes):
    channel = make_channel(starttls_server.settings(), tmp_path)
    with pytest.raises(SendError) as refused:
        channel.send(outbound(1, **changes))
    assert refused.value.permanent and "line break" in refused.value.reason
    channel.close()
    assert starttls_server.received == []


def test_it_verifies_settings_and_says_why_a_login_fails(starttls_server, tmp_path):
    assert make_channel(starttls_server.settings(), tmp_path).verify().startswith("Connected to 127.0.0.1:")
    with pytest.raises(SendError) as bad:
        make_channel(starttls_server.settings(password="wrong"), tmp_path).verify()
    assert "refused the username or password" in bad.value.reason
    with pytest.raises(SendError) as untrusted:
        make_channel(starttls_server.settings(verify_tls=True), tmp_path).verify()
    assert "certificate" in untrusted.value.reason


def test_it_sends_over_implicit_tls(tmp_path):
    with FakeSmtpServer("ssl", auth=("u", "p")) as server:
        channel = make_channel(server.settings(), tmp_path)
        assert "(ssl)" in channel.verify()
        channel.send(outbound(1))
        channel.close()
        assert len(server.received) == 1


def test_it_times_out_on_a_server_that_never_answers(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    settings = {"host": "127.0.0.1", "port": listener.getsockname()[1], "security": "none"}
    channel = make_channel({**settings, "from_address": "a@example.com", "timeout_s": 1}, tmp_path)
    started = time.monotonic()
    with pytest.raises(SendError) as slow:
        channel.send(outbound(1))
    assert "timed out" in slow.value.reason and not slow.value.uncertain
    assert time.monotonic() - started < 5
    listener.close()
    for sock in accepted:
        sock.close()


def test_it_lists_each_bad_setting():
    with pytest.raises(SettingsError) as bad:
        SmtpChannel.validate_settings({"host": "", "port": 70000, "security": "tls", "from_address": "nope"})
    fields = {d["field"] for d in bad.value.details}
    assert fields == {"host", "port", "security", "from_address"}


@pytest.mark.parametrize("connections", [0, 21, -1, "four", 2.5, True])
def test_it_refuses_connections_out_of_range(connections):
    with pytest.raises(SettingsError) as bad:
        SmtpChannel.validate_settings(
            {"host": "mail.example.com", "from_address": "a@example.com", "connections": connections}
        )
    (detail,) = bad.value.details
    assert detail["field"] == "connections" and "1 to 20" in detail["reason"]
