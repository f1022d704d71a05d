"""Building one outgoing email (shared by the SMTP and Gmail channels).

`render_email(message, from_address, from_name, message_id_domain, unsubscribe=...)` returns the finished RFC 5322
bytes (CRLF line ends) and the Message-ID. It writes the MIME structure itself with the email package's own
encoders (`email.utils.formataddr`, `email.header.Header` for RFC 2047 words, `binascii.b2a_qp` / base64 for
bodies, `email.utils.encode_rfc2231` for file names): about 10x cheaper than building `email.mime` objects and
running the Generator, which a bulk run cannot afford. `build_email(...)` returns the same message as an
`email.message.Message` (compat32, parsed from those bytes) for callers that edit headers; serialise it with
`as_bytes(policy=SMTP_POLICY)`. The message:
- multipart/alternative with a plain-text part and an HTML part (when no HTML body is given, the HTML is the plain
  body escaped, with line breaks kept); with attachments the alternative sits inside multipart/mixed;
- non-ASCII display names and subjects are RFC 2047 encoded; bodies are 7-bit safe (ASCII as is, UTF-8 in
  quoted-printable, or base64 for mostly non-Latin text); attachment names in RFC 2231;
- a deterministic Message-ID per message: `<bulkmsg.{account_id}.{message_id}.{tag}@{domain}>`, so a message
  that is sent again (after `requeue-uncertain`) keeps its id and a receiving server can tell it is the same
  one; `tag` is an HMAC-SHA256 of account and message with `id_key` (derived from the app secret), so nobody
  can thread a mail into a conversation by guessing our ids (DESIGN section 11). Without a key (a channel
  built outside the app) the id has no tag, and the inbox never takes it for one of ours;
- `List-Unsubscribe` (and `List-Unsubscribe-Post` for a one-click URL) when `unsubscribe` is given.

Raises SendError(permanent=True) before anything is sent when a header value carries CR or LF (header
injection), when an address is not a usable address, or when the subject is missing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import random
import re
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.header import Header
from email.message import Message
from email.utils import encode_rfc2231, format_datetime, formataddr
from email.utils import quote as quote_param
from urllib.parse import quote

from backend.channels.base import Attachment, OutboundMessage, SendError
from backend.store.models import utcnow

#: hex characters of the HMAC in our Message-IDs (80 bits).
TAG_LEN = 20
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[^@\s<>\"(),;:\\\[\]]+\.[^@\s<>\"(),;:\\\[\]]+$")
#: headers a caller may not set through `OutboundMessage.headers` (the builder owns them).
#: serialise built messages with this: RFC 5322 line ends (CRLF), long lines kept under 998 characters.
SMTP_POLICY = policy.compat32.clone(linesep="\r\n")
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


def message_id_tag(key: bytes, account_id: int, message_id: int) -> str:
    """The unguessable part of our Message-ID for one message."""
    digest = hmac.new(key, f"{account_id}.{message_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:TAG_LEN]


def message_id_for(account_id: int, message_id: int, domain: str, id_key: bytes | None = None) -> str:
    """The deterministic Message-ID of one stored message."""
    check_header_value("message id domain", domain)
    if id_key is None:
        return f"<bulkmsg.{account_id}.{message_id}@{domain}>"
    return f"<bulkmsg.{account_id}.{message_id}.{message_id_tag(id_key, account_id, message_id)}@{domain}>"


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


@dataclass(frozen=True)
class RenderedEmail:
    """A finished message: RFC 5322 bytes with CRLF line ends, and its Message-ID."""

    data: bytes
    message_id: str


def render_email(
    message: OutboundMessage,
    from_address: str,
    from_name: str | None,
    message_id_domain: str | None = None,
    *,
    unsubscribe: str | None = None,
    unsubscribe_one_click: bool = False,
    id_key: bytes | None = None,
) -> RenderedEmail:
    """The RFC 5322 message for `message` (see the module docstring for the contract).

    `unsubscribe` is a complete List-Unsubscribe value (see `unsubscribe_header`); `unsubscribe_one_click` adds
    `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058). Raises SendError(permanent=True) for a CR or
    LF in any header value, an unusable address or a missing subject, before anything is sent.
    """
    sender = check_address(from_address, "sender address")
    recipient = check_address(message.recipient)
    subject = check_header_value("subject", (message.subject or "").strip())
    if not subject:
        raise SendError("the email has no subject", permanent=True)
    message_id = message_id_for(message.account_id, message.id, message_id_domain or domain_of(sender), id_key)
    headers = [
        ("From", _display(from_name, sender, "sender name")),
        ("To", _display(message.recipient_name, recipient, "recipient name")),
        ("Subject", _encoded(subject)),
        ("Date", _date_now()),
        ("Message-ID", message_id),
    ]
    if unsubscribe:
        value = check_header_value("List-Unsubscribe header", unsubscribe)
        headers.append(("List-Unsubscribe", value.replace(", ", ",\r\n ")))
        if unsubscribe_one_click:
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    for name, value in message.headers.items():
        check_header_value("header name", name)
        if name.lower() in _RESERVED or not _HEADER_NAME.fullmatch(name):
            raise SendError(f"the header {name!r} cannot be set on a message", permanent=True)
        headers = [h for h in headers if h[0].lower() != name.lower()]
        headers.append((name, _encoded(check_header_value(f"{name} header", value))))
    html_body = message.html_body or html_from_text(message.body)
    parts = [_text_part(message.body, "plain"), _text_part(html_body, "html")]
    body, content_type = _multipart("alternative", parts)
    if message.attachments:
        attached = [_attachment_part(a) for a in message.attachments]
        body, content_type = _multipart("mixed", [f"Content-Type: {content_type}\r\n\r\n".encode() + body, *attached])
    headers.append(("Content-Type", content_type))
    headers.append(("MIME-Version", "1.0"))
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii")
    return RenderedEmail(head + b"\r\n" + body, message_id)


def build_email(
    message: OutboundMessage,
    from_address: str,
    from_name: str | None,
    message_id_domain: str | None = None,
    *,
    unsubscribe: str | None = None,
    unsubscribe_one_click: bool = False,
    id_key: bytes | None = None,
) -> Message:
    """`render_email`'s message as an `email.message.Message` (compat32) that a caller may still edit.

    Serialise with `as_bytes(policy=SMTP_POLICY)` (CRLF line ends). Raises SendError like `render_email`.
    """
    rendered = render_email(
        message,
        from_address,
        from_name,
        message_id_domain,
        unsubscribe=unsubscribe,
        unsubscribe_one_click=unsubscribe_one_click,
        id_key=id_key,
    )
    return message_from_bytes(rendered.data, policy=SMTP_POLICY)


_HEADER_NAME = re.compile(r"[A-Za-z0-9-]+")
_date_cache: tuple[int, str] = (0, "")


def _date_now() -> str:
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, format_datetime(utcnow()))
    return _date_cache[1]


def _boundary(parts: list[bytes]) -> str:
    while True:
        boundary = f"=_bulkmsg_{random.getrandbits(96):024x}"  # unique, not secret: no syscall
        marker = boundary.encode("ascii")
        if not any(marker in part for part in parts):
            return boundary


def _multipart(subtype: str, parts: list[bytes]) -> tuple[bytes, str]:
    """The body of a multipart entity and its Content-Type value. Each part is headers + blank line + body."""
    boundary = _boundary(parts)
    delimiter = b"--" + boundary.encode("ascii")
    out = [delimiter + b"\r\n" + part + b"\r\n" for part in parts]
    body = b"".join(out) + delimiter + b"--\r\n"
    return body, f'multipart/{subtype};\r\n boundary="{boundary}"'


def _crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def _text_part(text: str, subtype: str) -> bytes:
    """One text/* part, 7-bit safe everywhere (servers without 8BITMIME): ASCII as it is, UTF-8 in
    quoted-printable, or base64 when most characters are not Latin (base64 is smaller then)."""
    text = _crlf(text)
    if text.isascii() and all(len(line) <= 990 for line in text.split("\r\n")):
        head = f'Content-Type: text/{subtype}; charset="us-ascii"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
        return head.encode("ascii") + text.encode("ascii")
    data = text.encode("utf-8")
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    if non_ascii * 3 > len(text):
        encoding, encoded = "base64", _base64_lines(data)
    else:
        encoding, encoded = "quoted-printable", binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
    return head.encode("ascii") + encoded


def _base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]+")


def _attachment_part(attachment: Attachment) -> bytes:
    check_header_value("attachment name", attachment.filename)
    maintype, _, subtype = attachment.content_type.partition("/")
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        maintype, subtype = "application", "octet-stream"
    if attachment.filename.isascii():
        filename = f'filename="{quote_param(attachment.filename)}"'
    else:
        filename = "filename*=" + encode_rfc2231(attachment.filename, "utf-8")
    head = (
        f"Content-Type: {maintype}/{subtype}\r\nContent-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment;\r\n {filename}\r\n\r\n"
    )
    return head.encode("ascii") + _base64_lines(attachment.content())


def _encoded(value: str) -> str:
    """RFC 2047 for non-ASCII (or very long) header text, folded with CRLF; short ASCII stays as it is."""
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8" if not value.isascii() else "us-ascii").encode(linesep="\r\n")


def _display(name: str | None, address: str, what: str) -> str:
    if not name or not name.strip():
        return address
    check_header_value(what, name)
    # formataddr quotes specials and RFC 2047-encodes a non-ASCII display name.
    return formataddr((name.strip(), address), charset="utf-8")
