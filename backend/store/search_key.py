"""The folded search key of a contact, so that search finds a name whatever its case and accents.

`fold(text)` is what both sides of a search go through: Unicode case folding, compatibility decomposition
(NFKD), combining marks removed, and the letters NFKD leaves whole spelled out (Œ -> oe, Ł -> l, ø -> o,
ß -> ss, Þ -> th ...). "Émile", "ÉMILE" and "emile" fold alike; so do "Zoë" and "zoe", "Łukasz" and "lukasz".
Scripts without case or accents (Chinese, Arabic, ...) stay as they are, so they are found by their own letters.

A contact's `search_key` holds its folded name, email and phone digits; its `terms` are what a typed prefix is
matched against, through an index: every word of the name and the name from each word on ("maria silva" of
"Ana Maria Silva"), the email, its local part and domain, and the phone's digits with and without the country.
Both are computed here, in Python, on every write (the database's own LIKE folds ASCII only).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

#: Letters that NFKD does not decompose into a base letter and a combining mark.
SPECIAL = str.maketrans(
    {
        "œ": "oe",
        "æ": "ae",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "ng",
        "ĸ": "k",
        "ſ": "s",
        "ʼ": "'",
        "’": "'",
    }
)
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
_PHONE_LIKE = re.compile(r"^[\d\s+().\-/]+$")
MAX_TERM = 100


def fold(text: str | None) -> str:
    """Case- and accent-free form of `text`, with runs of white space made one space."""
    if not text:
        return ""
    folded = unicodedata.normalize("NFKD", text.casefold().translate(SPECIAL))
    stripped = "".join(ch for ch in folded if not unicodedata.combining(ch))
    # casefold() of some letters (e.g. "ẞ" -> "ss") happens before the table; a second pass catches letters
    # that only appear after decomposition.
    return " ".join(stripped.translate(SPECIAL).split())


def words(text: str | None) -> list[str]:
    """The folded words of a name: letters and digits, keeping inner apostrophes and hyphens ("o'neil")."""
    return _WORD.findall(fold(text))


def digits(phone: str | None) -> str:
    return "".join(ch for ch in phone or "" if ch.isdigit())


def search_key(name: str | None, email: str | None, phone: str | None) -> str:
    """One folded line holding everything a search looks at: name, email, phone digits."""
    return " ".join(part for part in (fold(name), fold(email), digits(phone)) if part)[:1000]


def terms(name: str | None, email: str | None, phone: str | None) -> set[str]:
    """The index entries of one contact: a search matches when one of them starts with the query.

    Few entries per contact, none a prefix of another of the same kind, so that a query matches each contact
    through as few entries as possible: the name from each word on ("ana maria silva", "maria silva", "silva"
    cover every word and any run of words), the parts of a hyphenated or apostrophised word, the email (which
    covers its local part) and its domain, and the phone's digits with and without the country code.
    """
    found: set[str] = set()
    name_words = words(name)
    for i, word in enumerate(name_words):
        found.add(" ".join(name_words[i:]))
        if "-" in word or "'" in word:
            found.update(part for part in re.split(r"['-]", word)[1:] if part)
    mail = fold(email)
    if mail:
        found.update((mail, mail.partition("@")[2]))
    found.update(phone_terms(phone))
    return {term[:MAX_TERM] for term in found if term}


def phone_terms(phone: str | None) -> set[str]:
    """The digits of an E.164 number, and its national number ("+447911123456" -> "7911123456")."""
    number = digits(phone)
    if not number:
        return set()
    found = {number}
    # Country calling codes are prefix-free (ITU E.164), so the first 1-3 digits that form one are the country.
    for size in (1, 2, 3):
        if int(number[:size]) in COUNTRY_CODE_TO_REGION_CODE and len(number) > size:
            found.add(number[size:].lstrip("0") or number[size:])
            break
    return found


def query_terms(q: str | None) -> list[str]:
    """How a typed search is matched: a phone-like query becomes its digits, anything else its folded words."""
    text = (q or "").strip()
    if not text:
        return []
    if _PHONE_LIKE.match(text) and any(ch.isdigit() for ch in text):
        # "07911 123" is a national number with its trunk zero; "0044 7911" an international one.
        number = digits(text).lstrip("0")
        return [number] if number else []
    folded = fold(text)
    return [folded[:MAX_TERM]] if folded else []


def upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with `prefix` (in code point / byte order)."""
    return prefix + "\U0010ffff"


def all_terms(rows: Iterable[tuple[int, str | None, str | None, str | None]]) -> list[tuple[int, str]]:
    """(contact id, term) pairs for many contacts given as (id, name, email, phone)."""
    return [(contact_id, term) for contact_id, name, email, phone in rows for term in terms(name, email, phone)]
