"""Checking one support message before it is queued: source, channel, recipient, subject and body.

`check_outgoing(raw, conversation_id, default_country, configured)` returns an `Outgoing` ready to insert, or
raises ApiError: 400 listing each problem (unknown fields, wrong types, a recipient that is not an E.164
phone number for sms/whatsapp or not an email address for email, CR/LF in the subject, an empty or over-long
body), 409 when the channel it needs is not configured (the message says to configure it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from backend.addresses import check_email, phone_or_none
from backend.channels.families import CHANNEL_TITLES, CHANNELS_OF
from backend.channels.registry import channel_class
from backend.errors import bad_request, conflict
from backend.security.hardening import MAX_ID

FIELDS = frozenset({"source", "to", "body", "subject", "channel", "contact_id", "recipient_name", "attachments"})
#: for a channel that names no limit of its own (email).
MAX_BODY_LENGTH = 100_000
MAX_SUBJECT_LENGTH = 998
MAX_CONVERSATION_ID = 100


@dataclass(frozen=True)
class Outgoing:
    channel: str
    recipient: str
    body: str
    subject: str | None
    contact_id: int | None
    recipient_name: str | None


def check_conversation_id(conversation_id: str) -> str:
    if not conversation_id or len(conversation_id) > MAX_CONVERSATION_ID or not conversation_id.isprintable():
        raise bad_request(
            f"A conversation id is 1 to {MAX_CONVERSATION_ID} printable characters.",
            [{"field": "conversation_id", "reason": "not a usable id"}],
        )
    return conversation_id


def check_outgoing(raw: dict[str, Any], default_country: str | None, configured: Callable[[str], bool]) -> Outgoing:
    problems: list[dict[str, str]] = []

    def problem(name: str, reason: str) -> None:
        problems.append({"field": name, "reason": reason})

    for key in sorted(set(raw) - FIELDS):
        problem(key, "unknown field")
    source = raw.get("source")
    if source not in CHANNELS_OF:
        problem("source", "must be sms, email or whatsapp")
        source = None
    channel = _channel(raw.get("channel"), source, problem)
    recipient = _recipient(raw.get("to"), source, default_country, problem)
    subject = _subject(raw.get("subject"), source, problem)
    body = _body(raw.get("body"), channel or (CHANNELS_OF[source][0] if source else None), problem)
    contact_id = raw.get("contact_id")
    if contact_id is not None and (
        isinstance(contact_id, bool) or not isinstance(contact_id, int) or not 0 < contact_id <= MAX_ID
    ):
        problem("contact_id", "must be a contact id (a whole number)")
    name = raw.get("recipient_name")
    if name is not None and (not isinstance(name, str) or len(name) > 200 or not name.isprintable()):
        problem("recipient_name", "must be a name of at most 200 characters")
    if problems:
        raise bad_request("The message cannot be sent as it is.", problems)
    assert source is not None and recipient is not None and body is not None
    chosen = _configured_channel(source, channel, configured)
    return Outgoing(chosen, recipient, body, subject, contact_id, name)


def _channel(value: Any, source: str | None, problem: Callable[[str, str], None]) -> str | None:
    if value is None or source is None:
        return None
    if value not in CHANNELS_OF[source]:
        problem("channel", f"must be {' or '.join(CHANNELS_OF[source])} for source {source}")
        return None
    return str(value)


def _recipient(
    value: Any, source: str | None, default_country: str | None, problem: Callable[[str, str], None]
) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problem("to", "required: the recipient's phone number or email address")
        return None
    if source is None:
        return None
    if source == "email":
        address = check_email(value)[0] if len(value) <= 320 else None
        if address is None:
            problem("to", "must be an email address like name@example.com")
        return address
    number = phone_or_none(value, default_country) if len(value) <= 40 else None
    if number is None:
        hint = "" if default_country else " (or set a default country in the settings)"
        problem("to", f"must be a phone number in international form, like +15551234567{hint}")
    return number


def _subject(value: Any, source: str | None, problem: Callable[[str, str], None]) -> str | None:
    if value is None or value == "":
        if source == "email":
            problem("subject", "required for email")
        return None
    if not isinstance(value, str):
        problem("subject", "must be text")
        return None
    if source is not None and source != "email":
        problem("subject", "only email messages have a subject")
        return None
    if "\r" in value or "\n" in value:
        problem("subject", "must be one line (no CR or LF)")
        return None
    if len(value) > MAX_SUBJECT_LENGTH:
        problem("subject", f"must be at most {MAX_SUBJECT_LENGTH} characters")
        return None
    return value


def _body(value: Any, channel: str | None, problem: Callable[[str, str], None]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problem("body", "required: the message text")
        return None
    limit = _body_limit(channel)
    if len(value) > limit:
        problem("body", f"is {len(value):,} characters; at most {limit:,} can be sent")
        return None
    return value


def _body_limit(channel: str | None) -> int:
    if channel is None:
        return MAX_BODY_LENGTH
    try:
        limit = channel_class(channel).max_body_length
    except (ImportError, AttributeError):
        return MAX_BODY_LENGTH
    return min(limit, MAX_BODY_LENGTH) if limit else MAX_BODY_LENGTH


def _configured_channel(source: str, channel: str | None, configured: Callable[[str], bool]) -> str:
    """The channel that sends: the one named, or for email the configured one (smtp when both are)."""
    if channel is not None:
        if not configured(channel):
            raise conflict(f"The {CHANNEL_TITLES[channel]} channel is not configured; configure it under Channels.")
        return channel
    for candidate in CHANNELS_OF[source]:
        if configured(candidate):
            return candidate
    if source == "email":
        raise conflict("No email channel is configured; configure SMTP or Gmail under Channels.")
    raise conflict(f"The {CHANNEL_TITLES[source]} channel is not configured; configure it under Channels.")
