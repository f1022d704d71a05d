"""A recipient's time zone (DESIGN section 16): the contact's `timezone`; else its phone number's zone when all
the zones `phonenumbers` gives for the number share one UTC offset (checked in January and July, so a zone with
DST and one without never pass for the same); else the account's `default_timezone` setting; else unknown.

`zone_named(name)` is the one check of a zone name (contacts, settings, send windows).
`recipient_zone(timezone, phone, default)` -> (zone name or None, source) with source `from_contact`,
`from_phone`, `default` or `unknown` (the plan's `timezones` counts use these words).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

FROM_CONTACT, FROM_PHONE, DEFAULT, UNKNOWN = "from_contact", "from_phone", "default", "unknown"


@lru_cache(maxsize=1024)
def zone_named(name: str) -> ZoneInfo | None:
    """The IANA zone of that name, or None (unknown, or not a zone name)."""
    if not isinstance(name, str) or not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


@lru_cache(maxsize=4096)
def _one_offset_zone(zones: tuple[str, ...]) -> str | None:
    """The first of `zones` when all are real zones with the same UTC offsets in January and July, else None."""
    known = [zone_named(z) for z in zones]
    if not known or any(z is None for z in known):
        return None  # Etc/Unknown (an invalid number), or a name zoneinfo does not know
    year = datetime.now(UTC).year
    probes = (datetime(year, 1, 15, 12, tzinfo=UTC), datetime(year, 7, 15, 12, tzinfo=UTC))
    offsets = {tuple(p.astimezone(z).utcoffset() for p in probes) for z in known}
    return zones[0] if len(offsets) == 1 else None


def normalise_timezone(raw: object) -> tuple[str | None, str | None]:
    """(the zone name, None) for a known IANA name; (None, None) for empty; (None, reason) otherwise."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    name = raw.strip() if isinstance(raw, str) else ""
    if zone_named(name) is None:
        return None, "not a time zone: give an IANA name, like Europe/Berlin or America/New_York"
    return name, None


#: numbers whose zone is remembered: finding it costs phonenumbers 0.1-0.3 ms (its validity patterns), and compose
#: asks for the plan of the same audience again at each edit; 100,000 numbers take about 15 MB.
PHONE_ZONES_KEPT = 100_000


@lru_cache(maxsize=PHONE_ZONES_KEPT)
def phone_zone(phone: str | None) -> str | None:
    """The zone of an E.164 number when it has one UTC offset (+1 212: America/New_York; +7 916: None)."""
    if not phone:
        return None
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    return _one_offset_zone(tuple(number_zones.time_zones_for_number(number)))


def recipient_zone(timezone: str | None, phone: str | None, default: str | None) -> tuple[str | None, str]:
    if timezone and zone_named(timezone) is not None:
        return timezone, FROM_CONTACT
    from_phone = phone_zone(phone)
    if from_phone is not None:
        return from_phone, FROM_PHONE
    if default and zone_named(default) is not None:
        return default, DEFAULT
    return None, UNKNOWN
