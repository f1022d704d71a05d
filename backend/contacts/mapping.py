"""Which column holds what: the suggested mapping and the user's mapping, checked.

Fields: `phone`, `email`, `name`, `first_name`, `last_name`, `timezone` (an IANA name), `tags` (names split on , or
;), `fields.<key>` (a
custom field) or `skip`.
Suggestion by header words: phone / mobile / cell / whatsapp / number / tel -> phone; e-mail / email / mail ->
email; name / full name -> name; first / given name -> first_name; last name / surname -> last_name; anything
else becomes a custom field named after the header (`City of birth` -> `fields.city_of_birth`).
"""

from __future__ import annotations

import re
from typing import Any

from backend.store.search_key import fold

STANDARD = ("phone", "email", "name", "first_name", "last_name", "timezone", "tags")
_WORDS = re.compile(r"[^a-z0-9]+")
_SUGGEST = (
    ("timezone", ("timezone", "time zone", "tz", "zone", "time zone name", "iana time zone")),
    ("tags", ("tags", "tag", "labels", "label", "lists")),
    ("email", ("email", "e mail", "mail", "email address", "e mail address", "correo")),
    ("first_name", ("first name", "firstname", "first", "given name", "forename", "vorname", "prenom")),
    ("last_name", ("last name", "lastname", "last", "surname", "family name", "nachname", "nom")),
    ("name", ("name", "full name", "fullname", "contact", "contact name", "customer", "nombre")),
    (
        "phone",
        (
            "phone",
            "mobile",
            "cell",
            "whatsapp",
            "number",
            "tel",
            "telephone",
            "phone number",
            "mobile number",
            "cell phone",
            "whatsapp number",
            "msisdn",
            "handy",
            "telefono",
            "telefon",
        ),
    ),
)


def _words(header: str) -> str:
    # Folded first: "Prénom" is "prenom", "Téléphone" "telephone", "Città" the field "citta" (not "citt").
    return _WORDS.sub(" ", fold(header)).strip()


def field_key(header: str) -> str:
    return _words(header).replace(" ", "_")[:60] or "field"


def suggest(columns: list[str]) -> dict[str, str]:
    """{column: field} with each standard field used at most once."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        words = _words(column)
        choice = None
        for target, names in _SUGGEST:
            if target in used:
                continue
            if words in names or (target in ("phone", "email") and any(w in names for w in words.split())):
                choice = target
                break
        if choice:
            used.add(choice)
            mapping[column] = choice
        else:
            mapping[column] = f"fields.{field_key(column)}"
    return mapping


def check(columns: list[str], raw: Any) -> dict[str, str]:
    """The user's mapping merged over the suggestion; ValueError listing problems as details."""
    mapping = suggest(columns)
    if raw in (None, "", {}):
        return mapping
    if not isinstance(raw, dict):
        raise MappingError([{"field": "mapping", "reason": "must be an object {column: field}"}])
    problems = []
    for column, target in raw.items():
        if column not in columns:
            problems.append({"field": "mapping", "column": column, "reason": "no such column in the file"})
            continue
        if not isinstance(target, str) or not (
            target in STANDARD or target == "skip" or (target.startswith("fields.") and len(target) > 7)
        ):
            problems.append({"field": "mapping", "column": column, "reason": f"unknown field {target!r}"})
            continue
        mapping[column] = target
    taken: dict[str, str] = {}
    for column, target in mapping.items():
        if target in STANDARD:
            if target in taken and raw.get(column) is not None:
                problems.append(
                    {"field": "mapping", "column": column, "reason": f"{target} is already {taken[target]!r}"}
                )
            elif target in taken:
                mapping[column] = f"fields.{field_key(column)}"
            else:
                taken[target] = column
    if problems:
        raise MappingError(problems)
    return mapping


class MappingError(ValueError):
    def __init__(self, details: list[dict[str, Any]]) -> None:
        super().__init__("The column mapping is not valid.")
        self.details = details
