"""Contacts one at a time: view, create, change, delete, opt out. Every function takes the caller's account.

Opting out (backend/contacts/optouts.py) is per channel family or everything: the contact is left out of new
campaigns of that family, and its messages still queued in such campaigns are cancelled in the same transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from backend.addresses import normalise_email, normalise_phone
from backend.campaigns.zones import normalise_timezone
from backend.contacts import optouts, search_index, tags
from backend.contacts.optouts import ALL
from backend.errors import ApiError, bad_request, not_found
from backend.security.limits import field_problems
from backend.store.models import Account, Contact
from backend.views import iso

if TYPE_CHECKING:
    from backend.services import Services


def contact_view(contact: Contact, tags: list[str] | None = None) -> dict[str, Any]:
    """The API's contact; `tags` (names) read from the contact's session unless given (a page reads them at once)."""
    return {
        "id": contact.id,
        "name": contact.name,
        "phone": contact.phone,
        "email": contact.email,
        "fields": contact.fields or {},
        "timezone": contact.timezone,
        "opted_out": contact.opted_out,
        "opted_out_at": ((contact.opt_outs or {}).get(ALL) or {}).get("at"),
        "opt_outs": optouts.opt_outs_view(contact),
        "tags": tags if tags is not None else [t.name for t in sorted(contact.tags, key=lambda t: t.name_key)],
        "created_at": iso(contact.created_at),
        "updated_at": iso(contact.updated_at),
    }


def default_country(session: Session, account_id: int) -> str | None:
    account = session.get(Account, account_id)
    value = (account.settings or {}).get("default_country") if account else None
    return str(value).upper() if value else None


def load(session: Session, account_id: int, contact_id: int) -> Contact:
    contact = session.get(Contact, contact_id)
    if contact is None or contact.account_id != account_id:
        raise not_found("This contact")
    return contact


def apply_changes(session: Session, account_id: int, contact: Contact, body: dict[str, Any]) -> None:
    """Set name / phone / email / timezone / fields from a request body; a 400 lists every bad value."""
    problems: list[dict[str, str]] = []
    country = default_country(session, account_id)
    if "name" in body:
        if not isinstance(body["name"], str) or len(body["name"]) > 200:
            problems.append({"field": "name", "reason": "must be text of at most 200 characters"})
        else:
            contact.name = body["name"].strip()
    if "phone" in body:
        phone, why = normalise_phone(body["phone"] if isinstance(body["phone"], str) else "", country)
        if why or (body["phone"] and not phone):
            problems.append({"field": "phone", "reason": why or "not a phone number"})
        contact.phone = phone
    if "email" in body:
        email, why = normalise_email(body["email"] if isinstance(body["email"], str) else "")
        if why or (body["email"] and not email):
            problems.append({"field": "email", "reason": why or "not an email address"})
        contact.email = email
    if "timezone" in body:
        zone, why = normalise_timezone(body["timezone"])
        if why:
            problems.append({"field": "timezone", "reason": why})
        contact.timezone = zone
    if "fields" in body:
        fields = body["fields"]
        if not isinstance(fields, dict) or not all(isinstance(k, str) for k in fields):
            problems.append({"field": "fields", "reason": "must be an object of named values"})
        elif too_big := field_problems(fields):
            problems.extend(too_big)
        else:
            contact.fields = {k: v for k, v in fields.items() if v is not None}
    if not problems and not contact.phone and not contact.email:
        problems.append({"field": "phone", "reason": "a contact needs a phone number or an email address"})
    if problems:
        raise bad_request("The contact is not valid.", problems)


def apply_tags(session: Session, contact: Contact, body: dict[str, Any]) -> None:
    """A body's `tags` (names; unknown ones are created) become the contact's tags; absent, nothing changes."""
    if "tags" in body:
        tags.set_tags(session, contact, tags.check_names(body["tags"]))
        session.flush()


def save(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        raise ApiError(409, "duplicate", "Another contact already has this phone number or email address.") from None


def opt_out(services: Services, session: Session, contact: Contact, family: str = ALL, why: str = "by_hand") -> int:
    """Opt the contact out of `family` (default: everything); returns how many queued messages were cancelled."""
    return optouts.opt_out(services.hub, session, contact, family, why)


def search(session: Session, account_id: int, q: str | None, limit: int, offset: int) -> tuple[list[Contact], int]:
    """Contacts whose name (any word), email or phone starts with `q`, whatever its case and accents."""
    return search_index.search(session, account_id, q, limit, offset)
