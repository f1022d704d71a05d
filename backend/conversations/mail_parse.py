"""Reading one mail from the inbox (DESIGN sections 9, 11 and 19).

`read_mail(raw)` -> `ParsedMail` (a plain, picklable value; the parse runs in mail_worker's process) or raises
`Unreadable` with the reason in words. `kind` is:
- `bounce`: a delivery report (mail_bounce.py): the failed addresses, permanent and temporary, the status and
  reason, and the Message-IDs of ours it names;
- `auto`: an automatic reply (mail_headers.auto_reply_reason), stored in the thread but not a reply;
- `reply`: a mail a person wrote: sender, subject, Message-ID, the ids it refers to (`In-Reply-To`, then
  `References` newest first), its new words (`text`) and the whole text (`full_text`);
- `ignored`: a mail from a mail system that names nobody.
A mail with no usable sender that is no report is Unreadable. Everything is bounded: headers in
mail_headers.py, the MIME tree and texts in mail_text.py. The stdlib parser (`compat32`, linear) reads the
bytes; the header-rich `policy.default` is not used on hostile input.

`our_message_ref(ids, key)`: our Message-IDs are
`<bulkmsg.{account}.{message}.{tag}@domain>`, the tag an HMAC-SHA256 of account and message with a key derived
from the app secret; an id whose tag does not check out is not ours (nobody can thread into a conversation by
guessing one).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from email import message_from_bytes

from backend.channels.email_mime import message_id_tag
from backend.conversations.mail_bounce import read_bounce
from backend.conversations.mail_headers import (
    auto_reply_reason,
    decoded,
    first_id,
    header,
    message_ids,
    sender,
)
from backend.conversations.mail_text import Unreadable, check_nesting, full_text, new_text, text_parts

__all__ = ["ParsedMail", "Unreadable", "message_id_tag", "our_message_ref", "read_mail"]

MAX_TEXT = 100_000


@dataclass(frozen=True)
class ParsedMail:
    kind: str  # reply | auto | bounce | ignored
    sender: str | None = None
    sender_name: str = ""
    subject: str = ""
    message_id: str | None = None
    refers_to: tuple[str, ...] = ()
    text: str = ""
    full_text: str = ""
    auto_reason: str | None = None
    permanent: tuple[str, ...] = ()
    temporary: tuple[str, ...] = ()
    status: str = ""
    reason: str = ""
    our_ids: tuple[str, ...] = ()


def read_mail(raw: bytes) -> ParsedMail:
    check_nesting(raw)
    try:
        mail = message_from_bytes(raw)
    except (RecursionError, ValueError, TypeError, IndexError) as exc:
        raise Unreadable(f"the MIME structure cannot be read ({type(exc).__name__})") from None
    text_parts(mail)  # bounds the MIME tree before anything walks it
    found = sender(mail)
    subject = decoded(header(mail, "Subject"))[:998]
    message_id = first_id(header(mail, "Message-ID"))
    local = found[1].rpartition("@")[0] if found else None
    bounce = read_bounce(mail, raw, local, subject)
    if bounce is not None:
        return ParsedMail(
            kind="bounce",
            sender=found[1] if found else None,
            subject=subject,
            message_id=message_id,
            permanent=bounce.permanent,
            temporary=bounce.temporary,
            status=bounce.status,
            reason=bounce.reason,
            our_ids=bounce.our_ids,
        )
    if found is None:
        raise Unreadable("it names no sender address (From)")
    refers = message_ids(header(mail, "In-Reply-To")) + tuple(reversed(message_ids(header(mail, "References"))))
    whole = full_text(mail)[:MAX_TEXT]
    auto = auto_reply_reason(mail, subject)
    return ParsedMail(
        kind="auto" if auto else "reply",
        sender=found[1],
        sender_name=found[0],
        subject=subject,
        message_id=message_id,
        refers_to=tuple(dict.fromkeys(refers)),
        text=new_text(whole)[:MAX_TEXT],
        full_text=whole,
        auto_reason=auto,
    )


def our_message_ref(message_ids_: tuple[str, ...] | list[str], key: bytes) -> tuple[int, int] | None:
    """(account id, message id) of the first of our own, authentic Message-IDs among `message_ids_`."""
    for value in message_ids_:
        local = value.strip().strip("<>").partition("@")[0]
        parts = local.split(".")
        if len(parts) != 4 or parts[0] != "bulkmsg" or not (parts[1].isdigit() and parts[2].isdigit()):
            continue
        if len(parts[1]) > 18 or len(parts[2]) > 18 or not parts[1].isascii() or not parts[2].isascii():
            continue
        account, message = int(parts[1]), int(parts[2])
        if hmac.compare_digest(parts[3], message_id_tag(key, account, message)):
            return account, message
    return None
