"""The text of a mail from outside, and the new words of a reply (DESIGN section 19).

- `full_text(mail)`: the text a person reads: the first `text/plain` part that is not an attachment, else the
  first `text/html` part made text by `inscriptis` (a real HTML-to-text converter: entities decoded, `<style>`
  and `<script>` dropped, linear in the input; no tag-stripping regex). The MIME tree is walked without
  recursion, at most MAX_PARTS parts and MAX_DEPTH levels (deeper: `Unreadable`).
- `new_text(text)`: the reply without the quoted history and the signature. `mail-parser-reply` (maintained,
  many languages and clients) splits the mail into replies; `reply_rules.cut` adds the cases it misses, each
  with the real sample that needs it. At most MAX_REPLY_INPUT characters are given to the parser (the new words
  are at the top).
"""

from __future__ import annotations

from email.message import Message

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from mailparser_reply import EmailMessage
from mailparser_reply.constants import MAIL_LANGUAGES

from backend.conversations.reply_rules import closing_signature, cut, starts_with_quote, trim, unquoted

MAX_PARTS = 2000
MAX_DEPTH = 40
#: more `multipart/` types than this and the stdlib parser's recursion would take seconds: Unreadable at once.
MAX_MULTIPARTS = 100
MAX_TEXT = 200_000
MAX_HTML = 1_000_000
MAX_REPLY_INPUT = 20_000

_LANGUAGES = [name for name in MAIL_LANGUAGES if name != "david"]
_HTML = ParserConfig(css=CSS_PROFILES["strict"], display_links=False, display_images=False)


class Unreadable(Exception):  # noqa: N818 - a reason, not a programming error
    """The mail cannot be read; `reason` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_nesting(raw: bytes) -> None:
    """Unreadable when the raw mail declares more multiparts than MAX_MULTIPARTS (counted, not parsed)."""
    if raw.lower().count(b"multipart/") > MAX_MULTIPARTS:
        raise Unreadable(f"it has more than {MAX_MULTIPARTS} nested MIME parts")


def text_parts(mail: Message) -> list[Message]:
    """Every leaf part, in order, walked without recursion; Unreadable past the bounds."""
    leaves: list[Message] = []
    stack: list[tuple[Message, int]] = [(mail, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > MAX_PARTS:
            raise Unreadable(f"more than {MAX_PARTS} MIME parts")
        if depth > MAX_DEPTH:
            raise Unreadable(f"MIME parts nested more than {MAX_DEPTH} deep")
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack.extend((p, depth + 1) for p in reversed(payload) if isinstance(p, Message))
        else:
            leaves.append(part)
    return leaves


def decoded_payload(part: Message, limit: int = MAX_TEXT) -> str:
    """A leaf part's text in its charset (unknown charsets as UTF-8 with replacement), at most `limit` chars."""
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload[:limit] if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data[: limit * 4].decode(charset, "replace")[:limit]
    except (LookupError, ValueError):
        return data[: limit * 4].decode("utf-8", "replace")[:limit]


def html_to_text(html: str) -> str:
    return str(get_text(html[:MAX_HTML], _HTML)).strip()


def full_text(mail: Message) -> str:
    html: Message | None = None
    for part in text_parts(mail):
        if part.get_content_maintype() != "text" or part.get("Content-Disposition", "").lower().startswith(
            "attachment"
        ):
            continue
        subtype = part.get_content_subtype()
        if subtype == "plain":
            return decoded_payload(part).replace("\r\n", "\n").strip()
        if subtype == "html" and html is None:
            html = part
    if html is None:
        return ""
    return html_to_text(decoded_payload(html, MAX_HTML))[:MAX_TEXT]


def new_text(text: str) -> str:
    """The reply's own words: quoted history and signature cut."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    head = cut(text[:MAX_REPLY_INPUT])
    if starts_with_quote(head):  # written under the quote (bottom-posting)
        head = unquoted(head)
    try:
        reply = _library_reply(head)
    except (RecursionError, ValueError, IndexError):
        reply = head
    return trim(reply).strip()


def _library_reply(text: str) -> str:
    """The newest reply as mail-parser-reply splits it, with hyphen lists kept (its `keep_hyphen_lists`: "- item"
    lines are a list, not a "-Name" signature: `email_1_5.txt`, `email_bullets.txt`) and its signature cut only
    where `reply_rules.closing_signature` agrees that a closing starts there."""
    message = EmailMessage(text=text, languages=list(_LANGUAGES), keep_hyphen_lists=True).read()
    if not message.replies:
        return text
    reply = message.replies[0]
    body = reply.full_body
    for disclaimer in reply.disclaimers or []:
        body = body.replace(disclaimer, "")
    return closing_signature(body, message.SIGNATURE_REGEX).strip()
