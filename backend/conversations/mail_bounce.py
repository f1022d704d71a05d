"""Delivery reports in the formats mail servers send (DESIGN section 19).

`read_bounce(mail, raw, sender_local, subject)` -> `BounceFacts` or None (not a delivery report).
GNU Mailman's `flufl.bounce` (its detectors know RFC 3464 DSNs, Postfix, Exim, qmail, Sendmail, Exchange,
Yahoo, AOL, GroupWise, SMTP32, Netscape and more) finds the permanently and temporarily failed addresses. One
rule of ours adds what it misses: Exim's "The following address(es) failed:" list (corpus samples
simple_08/09/16 of tests/data/bounces). A mail is looked at as a report only when it looks like one
(a `multipart/report`, a sender that is a mail system, an empty Return-Path; or a subject of a report and a
failed address found in it), so a person's reply is not read as a bounce.

Only the first RFC 3464 status block gives the status and the reason in words. The Message-IDs of ours found
anywhere in the report (`<bulkmsg.` tokens, at most MAX_OURS) are returned for the caller to check: a report
acts only on an address we mailed in a message it names with an authentic id (mailbox_apply.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from itertools import islice

from flufl.bounce import all_failures

from backend.conversations.mail_headers import address_ok, header, message_ids
from backend.conversations.mail_text import MAX_PARTS, decoded_payload, text_parts

MAIL_SYSTEMS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "bounce", "bounces"})
REPORT_SUBJECTS = (
    "undeliver", "delivery", "returned mail", "failure", "failed", "non remis", "unzustellbar",
    "nicht zugestellt", "mail system error", "could not send", "rejected", "bounce", "warning:", "returned",
    "non-delivery", "not be delivered", "permanent", "user unknown", "error during",
)  # fmt: skip
log = logging.getLogger(__name__)
# its detectors log their own errors with a traceback; _detect logs them in a line of ours
logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)

MAX_ADDRESSES = 1000
DETECT_BYTES = 64_000
MAX_OURS = 10
OUR_PREFIX = "<bulkmsg."
MAX_REASON = 300


@dataclass(frozen=True)
class BounceFacts:
    permanent: tuple[str, ...]
    temporary: tuple[str, ...]
    status: str  # e.g. 5.1.1; 5.0.0 / 4.0.0 when the report gives none
    reason: str
    our_ids: tuple[str, ...]


def is_report(mail: Message, sender_local: str | None) -> bool:
    """Surely a report: a `multipart/report`, a mail system's sender, or an empty Return-Path."""
    if mail.get_content_type() == "multipart/report":
        return True
    if sender_local is not None and sender_local in MAIL_SYSTEMS:
        return True
    return header(mail, "Return-Path").strip() == "<>"


def may_be_report(subject: str, sender_local: str | None) -> bool:
    """Perhaps a report (a report's subject, or no sender): one only if an address is found in it."""
    lowered = subject.lower()[:300]
    return sender_local is None or any(words in lowered for words in REPORT_SUBJECTS)


def read_bounce(mail: Message, raw: bytes, sender_local: str | None, subject: str) -> BounceFacts | None:
    surely = is_report(mail, sender_local)
    if not surely and not may_be_report(subject, sender_local):
        return None
    temporary, permanent = _detect(raw)
    perm = _clean(permanent)
    temp = [a for a in _clean(temporary) if a not in perm]
    if not perm and not temp:
        perm = _exim_failed(mail)
    if not surely and not perm and not temp:
        return None
    status, reason = _status_and_reason(mail)
    if not status:
        status = "5.0.0" if perm else "4.0.0"
    if not reason:
        reason = "the receiving mail server refused it" if perm else "delivery is delayed"
    return BounceFacts(tuple(perm), tuple(temp), status, reason, _our_ids(raw))


def _detect(raw: bytes) -> tuple[frozenset[bytes], frozenset[bytes]]:
    """flufl.bounce's (temporary, permanent) addresses, from the report's first DETECT_BYTES (its detectors try
    each of their ~50 patterns on every line: the cut keeps that work small, and a report's news is at its top)."""
    try:
        return all_failures(message_from_bytes(raw[:DETECT_BYTES]))
    except Exception:  # a detector's own error on odd input (e.g. Yale's on a mail without From): nothing found
        log.info("the bounce detectors could not read a report", exc_info=True)
        return frozenset(), frozenset()


def _clean(found: frozenset[bytes] | set[bytes]) -> list[str]:
    out: list[str] = []
    for value in sorted(found)[:MAX_ADDRESSES]:
        address = value.decode("utf-8", "replace").strip().strip("<>").lower()
        if address_ok(address) and address not in out:
            out.append(address)
    return out


def _exim_failed(mail: Message) -> list[str]:
    """Exim's list under "The following address(es) failed:": its addresses, up to the first empty line."""
    found: list[str] = []
    for part in text_parts(mail):
        if part.get_content_type() != "text/plain":
            continue
        lines = decoded_payload(part, 100_000).split("\n")
        for index, line in enumerate(lines):
            if "following address" not in line.lower() or "failed" not in " ".join(lines[index : index + 2]).lower():
                continue
            for follower in lines[index + 1 : index + 20]:
                if not follower.strip() and found:
                    return found
                for word in follower.replace("(", " ").replace(")", " ").split()[:10]:
                    address = word.strip("<>:,;").lower()
                    if address_ok(address) and address not in found:
                        found.append(address)
        if found:
            return found
    return found


def _status_and_reason(mail: Message) -> tuple[str, str]:
    """Status and Diagnostic-Code of the first recipient block of a message/delivery-status part."""
    for part in islice(mail.walk(), MAX_PARTS):  # the tree's size and depth are bounded (text_parts)
        if part.get_content_type() not in ("message/delivery-status", "message/global-delivery-status"):
            continue
        payload = part.get_payload()
        blocks = payload if isinstance(payload, list) else []
        for block in blocks[:MAX_ADDRESSES]:
            if not isinstance(block, Message) or block.get("Status") is None:
                continue
            status = str(block.get("Status", ""))[:40].strip().split(" ")[0]
            reason = str(block.get("Diagnostic-Code", ""))[:1000]
            reason = reason.partition(";")[2] if ";" in reason else reason
            return status, " ".join(reason.split())[:MAX_REASON]
    return "", ""


def _our_ids(raw: bytes) -> tuple[str, ...]:
    """Our Message-IDs named anywhere in the report (the returned message or its headers)."""
    text = raw.decode("latin-1")
    found: list[str] = []
    start = text.find(OUR_PREFIX)
    while start >= 0 and len(found) < MAX_OURS:
        for token in message_ids(text[start : start + 260]):
            if token.startswith(OUR_PREFIX) and token not in found:
                found.append(token)
            break
        start = text.find(OUR_PREFIX, start + 1)
    return tuple(found)
