"""SMTP replies in words, and how a refusal is classified (DESIGN 5 and 8).

A 5xx is permanent (with a 5.1.x status at RCPT TO also a hard bounce: the address is suppressed), a 4xx is
transient (retried with backoff), a refusal of our own sender address pauses the campaign.
"""

from __future__ import annotations

import re
import smtplib
import socket

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
