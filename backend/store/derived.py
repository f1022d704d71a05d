"""What a filter reads of a contact, computed in Python on every write (`name_key`, `country`, `fields_key`).

The database's own LOWER / LIKE fold ASCII only, and differently on SQLite and PostgreSQL; filters compare
folded text written here (backend/store/search_key.fold), so "Émile" is found by "emile" on both, with the same
results. `fields_key` holds each custom field as folded text (`t`) and, where the value is a number or text
that spells one ("42", " 3.5 "), as a number (`n`): a number operator reads `n` alone, so a field that is not a
number never matches it and never raises a cast error.
"""

from __future__ import annotations

import math
import re
from typing import Any

import phonenumbers

from backend.store.search_key import fold

_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
#: longest folded text kept per field (filter values are at most 500 characters).
MAX_TEXT = 1000


def country_of(phone: str | None) -> str | None:
    """The ISO 3166 code of an E.164 number's country (by its area where the code is shared: +1 -> US, CA...)."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(
        number.country_code or 0
    )
    return region if region and region != "ZZ" else None


def as_number(value: Any) -> float | None:
    """`value` as a finite number when it is one or text that spells one; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and len(value) <= 100 and _NUMBER.match(value.strip()):
        number = float(value.strip())
    else:
        return None
    return number if math.isfinite(number) else None


def as_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return fold(str(value))[:MAX_TEXT]
    return None


def fields_key(fields: dict[str, Any] | None) -> dict[str, Any]:
    texts: dict[str, str] = {}
    numbers: dict[str, float] = {}
    for key, value in (fields or {}).items():
        text = as_text(value)
        if text is not None:
            texts[key] = text
        number = as_number(value)
        if number is not None:
            numbers[key] = number
    return {"t": texts, "n": numbers}


def derived(name: str | None, phone: str | None, fields: dict[str, Any] | None) -> dict[str, Any]:
    """The columns `name_key`, `country` and `fields_key` of a contact with these values."""
    return {"name_key": fold(name)[:200], "country": country_of(phone), "fields_key": fields_key(fields)}
