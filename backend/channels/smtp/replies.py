"""SMTP replies and connection failures in words, and how a refusal is classified (DESIGN 5 and 8).

A 5xx is permanent (with a 5.1.x status at RCPT TO also a hard bounce: the address is suppressed), a 4xx is
transient (retried with backoff), a refusal of our own sender address pauses the campaign.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl

from backend.channels.base import SendError

#: an SMTP reply as smtplib reads it: (code, text).
Reply = tuple[int, bytes]
#: RFC 3463 enhanced status codes for a bad destination mailbox or address (5.1.0 - 5.1.10).
BAD_MAILBOX = re.compile(r"^5\.1\.\d{1,2}\b")


def text_of(code: int, reply: bytes | str) -> str:
    """`code` and the reply's text on one line, at most 200 characters of it."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())[:200]}"


def refusal(code: int, reply: bytes | str, what: str, *, pause: bool = False, mailbox: bool = False) -> SendError:
    """The SendError for a refused command: `what` names what the server refused."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    text = " ".join(text.split())[:200]
    if 500 <= code < 600:
        # A recipient refused with a 5.1.x status (no such mailbox, bad address) is a hard bounce: suppressed.
        hard = mailbox and BAD_MAILBOX.match(text) is not None
        return SendError(f"{code} {text}", permanent=not pause, pause_campaign=pause, opt_out="email" if hard else None)
    return SendError(f"{code} {text} (the server refused the {what} for now)")


def reason_of(exc: BaseException) -> str:
    """A lost or refused connection's cause in a few words."""
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        return f"{exc.smtp_code} {' '.join(str(text).split())[:200]}"
    return str(exc) or type(exc).__name__


def connection_failure(exc: BaseException) -> str:
    """A failure to reach or keep an SMTP server, in words (the channel's state while it lasts)."""
    if isinstance(exc, ConnectionRefusedError):
        return "The SMTP server refused the connection"
    if isinstance(exc, socket.gaierror):
        return "The SMTP server's name could not be found"
    if isinstance(exc, socket.timeout | TimeoutError) or isinstance(exc.__context__, socket.timeout | TimeoutError):
        return "The SMTP server timed out before answering"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"The SMTP server's TLS certificate is not trusted: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"The TLS handshake with the SMTP server failed ({exc.reason or 'TLS error'})"
    if isinstance(exc, smtplib.SMTPConnectError | smtplib.SMTPResponseException):
        return f"The SMTP server is not taking mail now ({reason_of(exc)})"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "The SMTP server closed the connection"
    return f"Could not connect to the SMTP server: {reason_of(exc)}"


def verify_failure(exc: BaseException) -> str:
    """Why checking the settings failed, in our words. Never what the other side sent (the host may be any
    service: its banner or reply is not ours to show), and a port that refuses, one that drops the connection and
    one that never answers read the same, so saving settings cannot map which services listen where."""
    if isinstance(exc, socket.gaierror):
        return "The SMTP server's name could not be found"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"The SMTP server's TLS certificate is not trusted: {exc.verify_message}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"The server refused the username or password ({exc.smtp_code})"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return "The SMTP server does not support login (AUTH) on this connection; check the security setting"
    return "Could not connect to an SMTP server at this host and port: check the host, the port and the security"


#: a line of mail text that starts with a period (RFC 5321 section 4.5.2).
_LEADING_PERIOD = re.compile(rb"^\.", re.MULTILINE)


def dot_stuff(payload: bytes) -> bytes:
    """The mail text as DATA sends it (RFC 5321 section 4.5.2, "transparency"): one more period before every
    line that starts with one, so no line of the mail can end DATA early; the server removes it again."""
    return _LEADING_PERIOD.sub(b"..", payload)
