"""The SMTP channel against a real aiosmtpd server: what arrives, and how each failure is classified."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from backend.channels.base import Attachment, ChannelContext, OutboundMessage, SendError, SettingsError
from backend.channels.smtp import SmtpChannel, dot_stuff
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


def test_it_starts_the_next_mail_ahead_and_recovers_when_the_server_dropped_it_meanwhile(tmp_path):
    port = free_port()
    server = FakeSmtpServer("plain")
    server.port = port
    server.start()
    try:
        channel = make_channel(server.settings(), tmp_path)
        channel.send(outbound(1))
        channel.prepare_next()  # MAIL FROM written while the dispatcher records and claims
        channel.send(outbound(2, "bo@example.org"))  # reads the answer written ahead
        channel.prepare_next()
        server.stop()  # the connection dies with a MAIL FROM in the air
        server = FakeSmtpServer("plain")
        server.port = port
        server.start()
        channel.send(outbound(3, "cy@example.org"))
        channel.close()
        assert [r.rcpt_tos for r in server.received] == [["cy@example.org"]]
    finally:
        server.stop()


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
