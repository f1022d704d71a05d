"""What refuses a campaign while its messages are rendered: a body or subject too big or empty, a placeholder with
no value, chosen contacts that do not exist, nobody reachable. Each raises (or returns) the 400 that says why."""

from __future__ import annotations

from typing import Any

from backend.campaigns.templates import MissingPlaceholder, suggestion
from backend.channels.families import family_of
from backend.channels.registry import channel_class
from backend.channels.sms import length as sms_length
from backend.errors import bad_request
from backend.store.models import Contact

#: longest rendered subject (characters).
MAX_SUBJECT = 1000
#: an email, attachments included, is at most 10 MB.
EMAIL_MAX_BODY = 10 * 1024 * 1024
#: recipients named in a refusal (the message says how many there are in all).
MAX_DETAILS = 100


def body_limit(channel: str) -> int:
    """Longest body (characters) the channel sends: SMS 1,600, WhatsApp 65,536, email 10 MB."""
    return channel_class(channel).max_body_length or EMAIL_MAX_BODY


def check_body_size(channel: str, body: str, limit: int) -> None:
    if len(body) > limit or (limit == EMAIL_MAX_BODY and len(body.encode()) > limit):
        reason = f"the rendered message is {len(body):,} characters; a {channel} message holds at most {limit:,}"
        raise bad_request(f"The message is too long: {reason}.", [{"field": "body", "reason": reason}])


def check_rendered(channel: str, body: str, limit: int, subject: str | None, who: str, skipped: dict[str, int]) -> None:
    """A 400 when a recipient's rendered body is too big or subject empty or too long; counts SMS parts."""
    check_body_size(channel, body, limit)
    if channel == "sms":
        skipped["sms_parts"] = skipped.get("sms_parts", 0) + sms_length.measure(body).segments
    if subject is not None and not subject.strip():
        reason = f"the subject is empty for {who}"
        raise bad_request(f"The subject is empty: {reason}.", [{"field": "subject", "reason": reason}])
    if subject is not None and len(subject) > MAX_SUBJECT:
        reason = f"the rendered subject is {len(subject):,} characters; at most {MAX_SUBJECT:,}"
        raise bad_request(f"The subject is too long: {reason}.", [{"field": "subject", "reason": reason}])


def check_found(unknown: list[int]) -> None:
    """A 400 naming the chosen contact ids that do not exist."""
    if unknown:
        raise bad_request(
            f"{len(unknown)} of the chosen contacts do not exist.",
            [{"field": "recipients", "contact_id": i, "reason": "no such contact"} for i in unknown[:MAX_DETAILS]],
        )


def nobody(channel: str, kind: str, skipped: dict[str, int]) -> Exception:
    """The 400 of a campaign nobody can get, saying why (how many opted out, how many have no address)."""
    address = "email address" if kind == "email" else "phone number"
    opted, missing = skipped["opted_out"], skipped["no_address"]
    if opted + missing == 0:
        message = "No contact matches these recipients."
    else:
        reasons = []
        if opted:
            reasons.append(f"{opted:,} opted out of {family_of(channel)} messages")
        if missing:
            reasons.append(f"{missing:,} {'has' if missing == 1 else 'have'} no {address}")
        message = (
            f"None of the chosen contacts can get this message (opted out, or no {address}): "
            + " and ".join(reasons)
            + "."
        )
    detail = {"field": "recipients", "reason": "no reachable recipient", "opted_out": opted, "no_address": missing}
    return bad_request(message, [detail])


def missing(contact: Contact, address: str, exc: MissingPlaceholder, context: dict[str, Any]) -> dict[str, Any]:
    names = ", ".join("{{ " + p + " }}" for p in exc.placeholders)
    detail = {
        "contact_id": contact.id,
        "recipient": address,
        "name": contact.name,
        "placeholder": exc.placeholders[0],
        "placeholders": exc.placeholders,
        "reason": f"{names} has no value for {contact.name or address}",
    }
    close = suggestion(exc.placeholders[0], context)
    if close:
        detail.update(suggest=close, reason=f"{detail['reason']}: did you mean {{{{ {close} }}}}?")
    return detail


def refusal(count: int, problems: list[dict[str, Any]]) -> Exception:
    placeholders = sorted({p for d in problems for p in d["placeholders"]})
    who = ", ".join((d["name"] or d["recipient"]) for d in problems[:5])
    more = f" and {count - 5} more" if count > 5 else ""
    names = ", ".join("{{ " + p + " }}" for p in placeholders)
    return bad_request(
        f"{names} has no value for {count} recipient{'s' if count != 1 else ''}: {who}{more}. "
        'Fill in the field or use a default, e.g. {{ fields.city | default("") }}.',
        problems,
    )
