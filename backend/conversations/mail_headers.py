"""Reading the headers of a mail from outside, in time linear in their size (DESIGN sections 11 and 19).

Mail from outside is hostile input: every value read here is cut to a bound before anything looks at it, and
nothing here runs a regular expression over it (a `From` of 10,000 encoded words, a `References` of 20,000 ids
or a 100,000-character Message-ID cost a bounded amount of work).
- `header(mail, name)`: the raw value, at most MAX_HEADER characters;
- `decoded(value)`: RFC 2047 encoded words decoded (at most MAX_WORDS of them; an unknown charset is read as
  Latin-1), whitespace folded;
- `message_ids(value)`: the `<...>` tokens, at most MAX_IDS, each at most MAX_ID_LEN characters;
- `sender(mail)`: (name, address) of `From`, or None when it names no usable address;
- `auto_reply_reason(mail)`: why the mail is an automatic reply, in words (RFC 3834 `Auto-Submitted` other than `no`,
  `X-Autoreply`, `X-Autorespond`, `Precedence: auto_reply|bulk|junk`, an out-of-office subject), or None.
The stdlib's `email.utils.parseaddr` and `email.header.decode_header` do the parsing, on the bounded values.
"""

from __future__ import annotations

from email.header import Header, decode_header
from email.message import Message
from email.utils import parseaddr

from backend.addresses import email_or_none

MAX_HEADER = 2000
MAX_WORDS = 40
MAX_IDS = 40
MAX_ID_LEN = 250
MAX_ADDRESS = 320

#: subjects of out-of-office and other automatic answers, lower case, in the common languages.
AUTO_SUBJECTS = (
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "autoreply",
    "auto-reply",
    "auto response",
    "autoresponse",
    "away from the office",
    "abwesenheitsnotiz",
    "abwesenheit",
    "automatische antwort",
    "réponse automatique",
    "reponse automatique",
    "absence du bureau",
    "respuesta automática",
    "respuesta automatica",
    "fuera de la oficina",
    "risposta automatica",
    "fuori sede",
    "fuori ufficio",
    "automatisch antwoord",
    "afwezigheid",
    "odpowiedź automatyczna",
    "automatyczna odpowiedź",
    "resposta automática",
    "fora do escritório",
    "autosvar",
    "automaattinen vastaus",
    "自動応答",
    "自動返信",
    "不在",
    "自动回复",
    "автоответ",
    "автоматический ответ",
)
AUTO_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})


def header(mail: Message, name: str) -> str:
    """The header's raw value (the first one when repeated), at most MAX_HEADER characters."""
    value = mail.get(name)
    if value is None:
        return ""
    return _text(value)[:MAX_HEADER]


def _text(value: object) -> str:
    """A header value as text: raw 8-bit bytes (RFC 6532 UTF-8 headers; the parser hands them over as a Header
    of `unknown-8bit` chunks) read as UTF-8."""
    if isinstance(value, Header):
        return "".join(_chunk(c, str(charset or "")) for c, charset in decode_header(value))
    return _utf8(str(value))


def _chunk(chunk: bytes | str, charset: str) -> str:
    if isinstance(chunk, str):
        return chunk[:MAX_HEADER]
    try:
        return chunk[: MAX_HEADER * 4].decode(charset if charset and charset != "unknown-8bit" else "utf-8", "replace")
    except LookupError:
        return chunk[: MAX_HEADER * 4].decode("utf-8", "replace")


def _utf8(value: str) -> str:
    """Raw 8-bit header bytes (RFC 6532 UTF-8 headers), kept by the parser as surrogates, read as UTF-8."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def decoded(value: str) -> str:
    """`value` with its encoded words decoded and whitespace folded; bounded in words and length."""
    value = value[:MAX_HEADER]
    cut = -1
    for _ in range(2 * MAX_WORDS + 1):  # keep at most MAX_WORDS encoded words (two `=?` in each)
        cut = value.find("=?", cut + 1)
        if cut < 0:
            break
    if cut >= 0:
        value = value[:cut]
    try:
        parts = decode_header(value)
    except (ValueError, LookupError, AssertionError, IndexError):
        return " ".join(value.split())
    out: list[str] = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            try:
                out.append(chunk.decode(charset or "ascii", "replace"))
            except LookupError:
                out.append(chunk.decode("latin-1"))
        else:
            out.append(chunk)
    return " ".join("".join(out).split())[:MAX_HEADER]


def message_ids(value: str) -> tuple[str, ...]:
    """The `<id>` tokens of an In-Reply-To, References or Message-ID value, in their order."""
    found: list[str] = []
    start = value.find("<")
    while start >= 0 and len(found) < MAX_IDS:
        end = value.find(">", start + 1, start + MAX_ID_LEN + 1)
        if end < 0:
            start = value.find("<", start + 1)
            continue
        token = value[start : end + 1]
        if "<" not in token[1:] and token[1:-1] and not any(c.isspace() for c in token):
            found.append(token)
        start = value.find("<", end + 1)
    return tuple(found)


def first_id(value: str) -> str | None:
    ids = message_ids(value)
    return ids[0] if ids else None


def address_ok(address: str) -> bool:
    """A plausible mailbox: one `@` with something on both sides, a dot in the domain, no spaces."""
    local, at, domain = address.rpartition("@")
    return (
        bool(at and local and domain)
        and "." in domain.strip(".")
        and len(address) <= MAX_ADDRESS
        and not any(c.isspace() or c in "<>()," for c in address)
    )


def sender(mail: Message) -> tuple[str, str] | None:
    """(display name, lower-case address) of `From`, or None when it names no usable address."""
    value = mail.get("From")
    if value is None:
        return None
    whole = _text(value)
    # The address is never encoded (RFC 2047 section 5): read it from the `<...>` that closes the value, so a
    # name of thousands of encoded words costs nothing; only the name is decoded, within its bounds.
    opening = whole.rfind("<", max(0, len(whole) - MAX_ADDRESS - 2))
    if opening >= 0:
        address = parseaddr(whole[opening:])[1]
        name = decoded(whole[:opening][:MAX_HEADER]).strip().strip('"').strip()
    else:
        name, address = parseaddr(decoded(whole[:MAX_HEADER]))
    checked = email_or_none(address) if address_ok(address.strip()) else None
    if checked is None:  # not an address the contacts and the reply route would take (backend.addresses)
        return None
    return name.strip()[:200], checked


def auto_reply_reason(mail: Message, subject: str) -> str | None:
    """Why this mail is an automatic reply (in words), or None for a mail a person wrote."""
    submitted = header(mail, "Auto-Submitted").strip().lower()
    kind = submitted.partition(";")[0].strip()
    if kind and kind != "no":
        return f"Auto-Submitted: {kind}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if mail.get(name) is not None:
            return f"{name} header"
    precedence = header(mail, "Precedence").strip().lower()
    if precedence in AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    lowered = subject.lower()[:300]
    for words in AUTO_SUBJECTS:
        if words in lowered:
            return "out-of-office subject"
    return None
