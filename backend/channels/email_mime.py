"""Building one outgoing email (shared by the SMTP and Gmail channels).

`build_email(message, from_address, from_name, message_id_domain, unsubscribe=...)` returns an
`email.message.Message` built with the MIME classes (the `email.headerregistry` machinery of EmailMessage costs
milliseconds per message, which a bulk run cannot afford); serialise it with `as_bytes(policy=SMTP_POLICY)`:
- multipart/alternative with a plain-text part and an HTML part (when no HTML body is given, the HTML is the plain
  body escaped, with line breaks kept); with attachments the alternative sits inside multipart/mixed;
- non-ASCII display names and subjects are RFC 2047 encoded; bodies are 7-bit safe (ASCII as is, UTF-8 in
  quoted-printable, or base64 for mostly non-Latin text); attachment names in RFC 2231;
- a deterministic Message-ID per message: `<bulkmsg.{account_id}.{message_id}@{domain}>`, so a message that is
  sent again (after `requeue-uncertain`) keeps its id and a receiving server can tell it is the same one;
- `List-Unsubscribe` (and `List-Unsubscribe-Post` for a one-click URL) when `unsubscribe` is given.

Raises SendError(permanent=True) before anything is sent when a header value carries CR or LF (header
injection), when an address is not a usable address, or when the subject is missing.
"""

from __future__ import annotations

import html
import re
from email import policy
from email.charset import BASE64, QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from typing import Any
from urllib.parse import quote

from backend.channels.base import Attachment, OutboundMessage, SendError
from backend.store.models import utcnow

_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[^@\s<>\"(),;:\\\[\]]+\.[^@\s<>\"(),;:\\\[\]]+$")
#: headers a caller may not set through `OutboundMessage.headers` (the builder owns them).
#: serialise built messages with this: RFC 5322 line ends (CRLF), long lines kept under 998 characters.
SMTP_POLICY = policy.compat32.clone(linesep="\r\n")
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP
_UTF8_B64 = Charset("utf-8")
_UTF8_B64.body_encoding = BASE64
_RESERVED = frozenset(
    {"from", "to", "subject", "message-id", "date", "mime-version", "content-type", "content-transfer-encoding"}
)


def check_header_value(name: str, value: str) -> str:
    """Return `value` unchanged, or raise SendError(permanent=True) when it would inject header lines."""
    if "\r" in value or "\n" in value:
        raise SendError(f"the {name} contains a line break, which is not allowed in an email header", permanent=True)
    return value


def check_address(value: str, what: str = "recipient address") -> str:
    """A plain `local@domain` address (no display name), stripped; SendError(permanent=True) when unusable."""
    check_header_value(what, value)
    address = value.strip()
    if not _ADDRESS.match(address):
        raise SendError(f"{address!r} is not a valid email address", permanent=True)
    return address


def message_id_for(account_id: int, message_id: int, domain: str) -> str:
    """The deterministic Message-ID of one stored message."""
    check_header_value("message id domain", domain)
    return f"<bulkmsg.{account_id}.{message_id}@{domain}>"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].strip().lower() or "localhost"


def unsubscribe_header(from_address: str, url: str | None = None) -> str:
    """A List-Unsubscribe value: a mailto to the sender (subject `unsubscribe`) and, when given, a URL."""
    parts = [f"<mailto:{quote(from_address, safe='@')}?subject=unsubscribe>"]
    if url:
        check_header_value("unsubscribe link", url)
        parts.insert(0, f"<{url}>")
    return ", ".join(parts)


def html_from_text(body: str) -> str:
    """The plain body as HTML: escaped, with line breaks kept."""
    escaped = html.escape(body).replace("\r\n", "\n").replace("\n", "<br>\n")
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>'
        f'<body><div style="font-family: sans-serif; white-space: normal">{escaped}</div></body></html>\n'
    )


def build_email(
    message: OutboundMessage,
    from_address: str,
    from_name: str | None,
    message_id_domain: str | None = None,
    *,
    unsubscribe: str | None = None,
    unsubscribe_one_click: bool = False,
) -> Message:
    """The RFC 5322 message for `message` (see the module docstring for the contract).

    `unsubscribe` is a complete List-Unsubscribe value (see `unsubscribe_header`); `unsubscribe_one_click` adds
    `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058) when that value holds an https URL.
    Serialise with `as_bytes(policy=SMTP_POLICY)` (CRLF line ends).
    """
    sender = check_address(from_address, "sender address")
    recipient = check_address(message.recipient)
    subject = check_header_value("subject", (message.subject or "").strip())
    if not subject:
        raise SendError("the email has no subject", permanent=True)
    html_body = message.html_body or html_from_text(message.body)
    alternative = MIMEMultipart("alternative", _subparts=[_text(message.body, "plain"), _text(html_body, "html")])
    mail: Message = alternative
    if message.attachments:
        mail = MIMEMultipart("mixed", _subparts=[alternative])
        for attachment in message.attachments:
            mail.attach(_attachment(attachment))
    for part in mail.walk():
        # The MIME classes stamp MIME-Version on every part; it belongs on the top only.
        if part is not mail:
            del part["MIME-Version"]
    mail["From"] = _display(from_name, sender, "sender name")
    mail["To"] = _display(message.recipient_name, recipient, "recipient name")
    mail["Subject"] = _encoded(subject)
    mail["Date"] = format_datetime(utcnow())
    mail["Message-ID"] = message_id_for(message.account_id, message.id, message_id_domain or domain_of(sender))
    if unsubscribe:
        mail["List-Unsubscribe"] = check_header_value("List-Unsubscribe header", unsubscribe)
        if unsubscribe_one_click:
            mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in message.headers.items():
        check_header_value("header name", name)
        if name.lower() in _RESERVED or not re.fullmatch(r"[A-Za-z0-9-]+", name):
            raise SendError(f"the header {name!r} cannot be set on a message", permanent=True)
        del mail[name]
        mail[name] = _encoded(check_header_value(f"{name} header", value))
    # Headers first, as mail clients show them: move the body's own headers to the end.
    _put_content_headers_last(mail)
    return mail


def _put_content_headers_last(mail: Message) -> None:
    items = mail._headers  # type: ignore[attr-defined]
    mail._headers = [h for h in items if not h[0].lower().startswith(("content-", "mime-"))] + [  # type: ignore[attr-defined]
        h for h in items if h[0].lower().startswith(("content-", "mime-"))
    ]


def _text(text: str, subtype: str) -> MIMEText:
    # 7bit-safe everywhere (servers without 8BITMIME); base64 is smaller for mostly non-Latin text.
    if text.isascii() and all(len(line) <= 990 for line in text.splitlines()):
        return MIMEText(text, subtype, "us-ascii")
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    charset = _UTF8_B64 if non_ascii * 3 > len(text) else _UTF8_QP
    return MIMEText(text, subtype, charset)  # type: ignore[arg-type]  # a Charset is accepted at run time


def _attachment(attachment: Attachment) -> MIMEBase:
    check_header_value("attachment name", attachment.filename)
    maintype, _, subtype = attachment.content_type.partition("/")
    if not maintype or not subtype or "\n" in attachment.content_type or "\r" in attachment.content_type:
        maintype, subtype = "application", "octet-stream"
    part = MIMEBase(maintype, subtype)
    part.set_payload(attachment.data)
    encode_base64(part)
    filename: Any = attachment.filename if attachment.filename.isascii() else ("utf-8", "", attachment.filename)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    return part


def _encoded(value: str) -> str:
    """RFC 2047 for non-ASCII header text; ASCII stays as it is."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def _display(name: str | None, address: str, what: str) -> str:
    if not name or not name.strip():
        return address
    check_header_value(what, name)
    # formataddr quotes specials and RFC 2047-encodes a non-ASCII display name.
    return formataddr((name.strip(), address), charset="utf-8")
