"""The one verdict on a phone number and on an email address, for every part that meets one: the contact import
and form, a campaign's recipients, a reply from the conversations view, an inbound SMS, mail or WhatsApp sender.
Phone numbers to E.164 (phonenumbers) and email addresses checked (email-validator, no DNS, the reserved `.test`
domain accepted), with the same options everywhere, so an address the import keeps can always be answered.

Each `normalise_*` function returns (normalised value, None) or (None, reason). Fast paths keep imports quick without
changing the verdict: an international number (`+` or `00`) skips the full parser's text handling, and every
number is judged by `is_valid`, which asks exactly what `phonenumbers.is_valid_number` asks of the library's
own metadata at a quarter of the cost; a plain ASCII address that matches a strict dot-atom pattern and is not
in a special-use domain is one email-validator accepts, so it is not re-parsed. Everything else goes through the
libraries. Emails are stored lower-case (the uniqueness key).
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, NumberParseException, PhoneMetadata, PhoneNumber

_PHONE_NOISE = re.compile(r"[\s().\-/\u00a0]")
_INTERNATIONAL = re.compile(r"\+([1-9]\d{6,14})")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_SIMPLE_EMAIL = re.compile(
    rf"({_ATOM}(?:\.{_ATOM})*)@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}})"
)
_SPECIAL = tuple(SPECIAL_USE_DOMAIN_NAMES)
_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


def normalise_phone(raw: str | None, default_country: str | None) -> tuple[str | None, str | None]:
    """`(202) 555-0143` + US -> `+12025550143`. Reason when it is not a valid number."""
    text = (raw or "").strip()
    if not text:
        return None, None
    if not any(ch.isdigit() for ch in text):
        return None, f'"{text}" is not a phone number'
    compact = _PHONE_NOISE.sub("", text)
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    match = _INTERNATIONAL.fullmatch(compact)
    if match:
        number = _split_country(match.group(1))
        if number is not None:
            if is_valid(number):
                return "+" + match.group(1), None
            return None, f'"{text}" is not a valid phone number'
    region = (default_country or "").upper() or None
    if not text.startswith("+") and not compact.startswith("+") and region is None:
        return None, f'"{text}" has no country code; add one (+44...) or set a default country'
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        return None, f'"{text}": {_PARSE_ERRORS.get(exc.error_type, "not a phone number")}'
    if not is_valid(number):
        where = f" for {region}" if region and not text.startswith("+") else ""
        return None, f'"{text}" is not a valid phone number{where}'
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None


def _split_country(digits: str) -> PhoneNumber | None:
    """The number for `+<digits>` when its national part has no leading zero (the simple, common case)."""
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if not national or national[0] == "0":
                return None  # Italian-style leading zeros: the full parser knows them
            return PhoneNumber(country_code=code, national_number=int(national))
    return None


def normalise_email(raw: str | None) -> tuple[str | None, str | None]:
    """A checked, lower-case address (how contacts store it), or the reason it is not one (no DNS lookups)."""
    checked, why = check_email(raw)
    return (checked.lower() if checked else None), why


def check_email(raw: str | None) -> tuple[str | None, str | None]:
    """A checked address as written (its domain lower-cased), or the reason it is not one (no DNS lookups)."""
    text = (raw or "").strip()
    if not text:
        return None, None
    match = _SIMPLE_EMAIL.fullmatch(text)
    if match and len(match.group(1)) <= 64 and len(text) <= 254:
        domain = match.group(2).lower()
        if not any(domain == s or domain.endswith("." + s) for s in _SPECIAL):
            return f"{match.group(1)}@{domain}", None
    try:
        # test_environment: addresses at the reserved .test domain (RFC 6761) are accepted; the import warns.
        checked = validate_email(text, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        return None, f'"{text}": {exc}'
    return checked.normalized, None


def phone_or_none(raw: str | None, default_country: str | None = None) -> str | None:
    """`raw` as an E.164 number (+15551234567), or None when `normalise_phone` refuses it."""
    return normalise_phone(raw, default_country)[0]


def email_or_none(raw: str | None) -> str | None:
    """`raw` as a lower-case address, or None when `normalise_email` refuses it."""
    return normalise_email(raw)[0]


def reserved_for_tests(email: str | None) -> bool:
    """True for an address under the .test top-level domain, reserved for tests (RFC 6761): it is accepted (a
    team tries the app with such addresses) and the import says that mail to it is never delivered."""
    return (email or "").rpartition("@")[2].rpartition(".")[2] == "test"


# -- validity: phonenumbers.is_valid_number, without its repeated work ------------------------------------
#
# is_valid_number(n) finds the region of n's country code (the only one, or the first whose leading digits or
# number patterns match) and then asks whether n's national number has a type other than UNKNOWN there, which
# is: it matches the general pattern and at least one specific pattern (premium rate, toll free, shared cost,
# VoIP, personal, pager, UAN, voicemail, fixed line, mobile). The library works out the full type, in that
# order, twice for a +1 number; the verdict needs each pattern at most once, most common first. Same metadata,
# same verdict: tests/test_contacts_import.py compares both over thousands of numbers of every region.

_Desc = tuple[frozenset[int], "re.Pattern[str]"]
_SPECIFIC = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


def is_valid(number: PhoneNumber) -> bool:
    """Exactly `phonenumbers.is_valid_number(number)`."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(number.country_code or 0)
    if not regions or number.italian_leading_zero or "001" in regions:
        return phonenumbers.is_valid_number(number)  # rare shapes: the library's own path
    national = str(number.national_number)
    if len(regions) == 1:
        return _has_type(national, regions[0])
    for region in regions:
        leading = _leading_digits(region)
        if leading is not None:
            if leading.match(national):
                return _has_type(national, region)
        elif _has_type(national, region):
            return True
    return False


def _has_type(national: str, region: str) -> bool:
    checks = _descs(region)
    if checks is None:
        return False
    general, specific = checks
    return _matches(national, general) and any(_matches(national, desc) for desc in specific)


def _matches(national: str, desc: _Desc) -> bool:
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


@cache
def _descs(region: str) -> tuple[_Desc, tuple[_Desc, ...]] | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None or metadata.general_desc is None or not metadata.general_desc.national_number_pattern:
        return None
    specific = [getattr(metadata, name) for name in _SPECIFIC]
    return _desc(metadata.general_desc), tuple(
        _desc(d) for d in specific if d is not None and d.national_number_pattern
    )


def _desc(desc: object) -> _Desc:
    return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)  # type: ignore[attr-defined]


@cache
def _leading_digits(region: str) -> re.Pattern[str] | None:
    metadata = PhoneMetadata.metadata_for_region(region, None)
    return re.compile(metadata.leading_digits) if metadata is not None and metadata.leading_digits else None
