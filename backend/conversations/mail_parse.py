"""Reading one mail from the inbox: a reply, or a delivery report (RFC 3464 `multipart/report`).

`read_mail(raw)` -> `Reply` or `Bounce` (None for a mail that is neither usable: no sender address).
- Bounce: `multipart/report; report-type=delivery-status`; per failed recipient its `Final-Recipient`, `Status`
  (e.g. 5.1.1) and `Diagnostic-Code`, and the Message-ID of the original (from the returned
  `message/rfc822` or `text/rfc822-headers` part). A 5.x.x status is a hard bounce.
- Reply: sender address and name, subject, Message-ID, the Message-IDs it refers to (`In-Reply-To`, then
  `References` newest first), and the new text (the plain part, else the HTML part's text, without the quoted
  history under "On ... wrote:" or `>` lines).
`our_message_ref(message_ids)` finds our deterministic `<bulkmsg.{account}.{message}@domain>` among them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr

MAX_TEXT = 100_000
#: senders that are mail systems, not people.
MAIL_SYSTEMS = frozenset({"mailer-daemon", "postmaster"})
MSGID = re.compile(r"<[^<>\s]{1,500}>")
OURS = re.compile(r"^<bulkmsg\.(\d{1,18})\.(\d{1,18})@[^<>\s]+>$")
QUOTE_HEAD = re.compile(r"^\s*(On .{1,300} wrote:|-----\s*Original Message\s*-----)\s*$", re.IGNORECASE)
TAGS = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Reply:
    sender: str
    sender_name: str
    subject: str
    message_id: str | None
    refers_to: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Bounce:
    original_message_id: str | None
    recipient: str | None
    status: str  # e.g. 5.1.1
    action: str  # failed | delayed | delivered | relayed | expanded
    reason: str
    message_id: str | None

    @property
    def hard(self) -> bool:
        return self.status.startswith("5.")


def read_mail(raw: bytes) -> Reply | Bounce | None:
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    if mail.get_content_type() == "multipart/report":
        bounce = _bounce(mail)
        if bounce is not None:
            return bounce
    name, address = parseaddr(str(mail.get("From", "")))
    if "@" not in address or len(address) > 320:
        return None
    if address.partition("@")[0].lower() in MAIL_SYSTEMS:
        return None  # a bounce that is not an RFC 3464 report: nobody to answer
    refers = _ids(str(mail.get("In-Reply-To", ""))) + tuple(reversed(_ids(str(mail.get("References", "")))))
    return Reply(
        sender=address.strip().lower(),
        sender_name=name.strip()[:200],
        subject=" ".join(str(mail.get("Subject", "")).split())[:998],
        message_id=_first(_ids(str(mail.get("Message-ID", "")))),
        refers_to=tuple(dict.fromkeys(refers)),
        text=_new_text(_text_of(mail))[:MAX_TEXT],
    )


def our_message_ref(message_ids: tuple[str, ...] | list[str]) -> tuple[int, int] | None:
    """(account id, message id) of the first of our own Message-IDs among `message_ids`."""
    for value in message_ids:
        match = OURS.match(value.strip())
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def _bounce(mail: EmailMessage) -> Bounce | None:
    status_part = None
    original_id = None
    for part in mail.walk():
        kind = part.get_content_type()
        if kind in ("message/delivery-status", "message/global-delivery-status") and status_part is None:
            status_part = part
        elif kind in ("message/rfc822", "message/global", "text/rfc822-headers") and original_id is None:
            original_id = _original_id(part)
    if status_part is None:
        return None
    blocks = _status_blocks(status_part)
    recipients = blocks[1:] or blocks
    chosen = next(
        (b for b in recipients if b.get("action", "").lower() == "failed"), recipients[0] if recipients else {}
    )
    recipient = chosen.get("final-recipient") or chosen.get("original-recipient") or ""
    recipient = recipient.partition(";")[2].strip() if ";" in recipient else recipient.strip()
    status = (chosen.get("status") or "").strip().split(" ")[0]
    reason = chosen.get("diagnostic-code", "")
    reason = reason.partition(";")[2].strip() if ";" in reason else reason.strip()
    return Bounce(
        original_message_id=original_id,
        recipient=recipient.lower() or None,
        status=status or "5.0.0",
        action=(chosen.get("action") or "failed").strip().lower(),
        reason=" ".join(reason.split())[:300] or f"delivery failed ({status or 'no status'})",
        message_id=_first(_ids(str(mail.get("Message-ID", "")))),
    )


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The delivery-status fields: the per-message block, then one block per recipient."""
    payload = part.get_payload()
    blocks: list[dict[str, str]] = []
    if isinstance(payload, list):
        for block in payload:
            if isinstance(block, Message):
                blocks.append({k.lower(): " ".join(str(v).split()) for k, v in block.items()})
        return blocks
    text = payload if isinstance(payload, str) else ""
    for chunk in re.split(r"\r?\n\r?\n", text.strip()):
        fields: dict[str, str] = {}
        for line in re.sub(r"\r?\n[ \t]+", " ", chunk).splitlines():
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        if fields:
            blocks.append(fields)
    return blocks


def _original_id(part: Message) -> str | None:
    payload = part.get_payload()
    if isinstance(payload, list) and payload and isinstance(payload[0], Message):
        return _first(_ids(str(payload[0].get("Message-ID", ""))))
    text = payload if isinstance(payload, str) else ""
    match = re.search(r"^Message-ID:\s*(<[^>]+>)", text, re.IGNORECASE | re.MULTILINE)
    return match.group(1) if match else None


def _ids(value: str) -> tuple[str, ...]:
    return tuple(MSGID.findall(value))


def _first(values: tuple[str, ...]) -> str | None:
    return values[0] if values else None


def _text_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        content = body.get_content()
    except (LookupError, ValueError):
        return ""
    text = str(content)
    if body.get_content_type() == "text/html":
        text = TAGS.sub("", re.sub(r"(?i)<br\s*/?>|</p>", "\n", text))
    return text


def _new_text(text: str) -> str:
    """The reply's own words: stop at the quoted history, drop quoted lines."""
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if QUOTE_HEAD.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def addresses(value: str) -> list[str]:
    return [a.lower() for _, a in getaddresses([value]) if "@" in a]
