"""The inbox tests' shared parts: a real Dovecot (tests/fakes/dovecot.py) and SMTP server, an API session, mails
as clients and mail servers write them, and the SMTP channel configured with its inbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from tests.fakes import dovecot
from tests.fakes.smtp_server import FakeSmtpServer
from tests.helpers import bearer, require, wait_for

ANA = "ana@example.com"


@pytest.fixture
def imap() -> Iterator[dovecot.Dovecot]:
    reason = dovecot.available()
    require(reason is None, reason or "")
    with dovecot.Dovecot() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[FakeSmtpServer]:
    with FakeSmtpServer() as server:
        yield server


@pytest.fixture
def http(live_server) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.headers.update(bearer(live_server.token))
    return session


@pytest.fixture
def polled(live_server) -> None:
    """The inbox read only by the poll (here: the trigger route), so a test can count what one read found; IMAP
    IDLE, which would read the same mails a moment earlier, has its own test."""
    live_server.app.extensions["bulkmsg"].inbox_watcher.stop()


def reply(to_message_id: str | None, sender: str, text: str, subject: str = "Re: Your order") -> bytes:
    refs = f"In-Reply-To: {to_message_id}\r\nReferences: {to_message_id}\r\n" if to_message_id else ""
    return (
        f"From: Someone <{sender}>\r\nTo: news@example.com\r\nSubject: {subject}\r\n"
        f"Message-ID: <reply-{abs(hash((sender, text)))}@mail.example.org>\r\n{refs}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n\r\nOn Mon, 30 Nov 2026 at 10:00, Example News <news@example.com> wrote:\r\n> Your order\r\n"
    ).encode()


def delivery_report(original_id: str, recipient: str, status: str = "5.1.1", action: str = "failed") -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\nTo: news@example.com\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{status}-{recipient}@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUND"\r\n\r\n'
        "--BOUND\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n"
        "--BOUND\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\nArrival-Date: Mon, 30 Nov 2026 10:00:00 +0000\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nOriginal-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nRemote-MTA: dns; mail.example.com\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown\r\n\r\n"
        "--BOUND\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Example News <news@example.com>\r\nTo: {recipient}\r\nSubject: Your order\r\n"
        f"Message-ID: {original_id}\r\n\r\n"
        "--BOUND--\r\n"
    ).encode()


def configure(http, base: str, smtp: FakeSmtpServer, imap: dovecot.Dovecot, **changes) -> requests.Response:
    return http.put(f"{base}/api/channels/smtp", json={**smtp.settings(), **imap.settings(**changes)}, timeout=20)


def sent_email(http, base: str, smtp: FakeSmtpServer, contact_id: int, to: str = ANA) -> tuple[dict, str]:
    """A reply from the contact's thread (Ana's by default, address `to`), sent through the real SMTP server;
    (message, its Message-ID as it arrived)."""
    created = http.post(
        f"{base}/api/conversations/contact-{contact_id}/messages",
        json={"source": "email", "subject": "Your order", "body": "It shipped today."},
        timeout=5,
    ).json()
    wait_for(lambda: http.get(f"{base}/api/messages/{created['id']}", timeout=5).json()["status"] == "sent")
    [arrived] = [r for r in smtp.received if to.lower() in [t.lower() for t in r.rcpt_tos]]
    return created, str(arrived.message["Message-ID"])
