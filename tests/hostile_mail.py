"""Hostile mails of issue 21 (the inbox as hostile input) and the bad input of issue 22, built the same way for
the inbox tests, the fuzz test and the benchmark."""

from __future__ import annotations

HEAD = "To: news@example.com\r\nSubject: Hi\r\nMIME-Version: 1.0\r\n"


def mail(head: str, body: str = "Hello", content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (f"{head}{HEAD}Content-Type: {content_type}\r\n\r\n{body}\r\n").encode("utf-8", "surrogateescape")


def html_of_brackets(size: int = 100_000) -> bytes:
    """An HTML mail of '<' characters (a tag-stripping regex goes quadratic on it)."""
    return mail("From: Eve <eve@example.org>\r\nMessage-ID: <lt@example.org>\r\n", "<" * size, "text/html")


def report_of_message_id_lines(lines: int = 20_000) -> bytes:
    """A delivery report whose headers part holds `lines` lines 'Message-ID: <'."""
    return (
        "From: MAILER-DAEMON@mx.example.net\r\nTo: news@example.com\r\nSubject: Undelivered Mail\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n" + "Message-ID: <\r\n" * lines + "\r\n--B--\r\n"
    ).encode()


def encoded_words_from(words: int = 10_000) -> bytes:
    return mail("From: " + "=?utf-8?q?a?= " * words + "<eve@example.org>\r\n")


def poison_mails() -> dict[str, bytes]:
    """Mails the reader cannot use, each with what it is."""
    nested = "".join(f'--B{i}\r\nContent-Type: multipart/mixed; boundary="B{i + 1}"\r\n\r\n' for i in range(1200))
    return {
        "From: <": mail("From: <\r\n"),
        "From: a@": mail("From: a@\r\n"),
        "a Message-ID of 100,000 '<'": mail("From: eve@example.org\r\nMessage-ID: " + "<" * 100_000 + "\r\n"),
        "multipart nested 1,200 deep": mail("From: eve@example.org\r\n", nested, 'multipart/mixed; boundary="B0"'),
        "no From": mail("Message-ID: <nofrom@example.org>\r\n"),
    }


def every_header_encoded() -> bytes:
    words = "=?utf-8?b?w6k=?= " * 30
    heads = "".join(f"{name}: {words}\r\n" for name in ("Subject", "To", "Cc", "Reply-To", "X-Anything"))
    return (
        f"From: {words}<eve@example.org>\r\n{heads}Message-ID: <enc@example.org>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAll encoded\r\n"
    ).encode()


def malformed_mime() -> bytes:
    return (
        b"From: Eve <eve@example.org>\r\nSubject: broken\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="never"\r\n\r\n'
        b"--other\r\nContent-Type: text/plain; charset=nonsense-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"!!!not base64!!!\r\n"
    )


def report_of_recipients(original_id: str, count: int = 500) -> bytes:
    """A DSN naming `count` failed recipients, none of them the one we mailed in `original_id`."""
    blocks = "".join(
        f"Final-Recipient: rfc822; someone{i}@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        for i in range(count)
    )
    return (
        "From: MAILER-DAEMON@mx.example.net\r\nTo: news@example.com\r\nSubject: Undelivered Mail\r\n"
        f"Message-ID: <many-{count}@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"{blocks}--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {original_id}\r\n\r\n--B--\r\n"
    ).encode()
