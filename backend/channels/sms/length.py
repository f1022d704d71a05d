"""How an SMS body travels: its encoding (GSM-7 or UCS-2) and how many parts it is billed as.

GSM 03.38 (3GPP TS 23.038): a body whose every character is in the GSM-7 alphabet goes as 7-bit septets,
160 in one part, 153 per part when split (the concatenation header takes 7); the extension characters
(`€ [ ] { } \\ ~ ^ |` and the form feed) take two septets each (escape + character) and an escape pair never
straddles two parts. One character outside the alphabet (an emoji, a curly quote, most accented capitals) sends
the whole body as UCS-2: 70 UTF-16 code units in one part, 67 per part when split, a surrogate pair kept whole.

Which characters are GSM-7 comes from the `gsm0338` codec (a maintained implementation of the table), not from a
table typed here.
"""

from __future__ import annotations

from dataclasses import dataclass

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_SINGLE = {GSM7: 160, UCS2: 70}
_PART = {GSM7: 153, UCS2: 67}


@dataclass(frozen=True)
class SmsLength:
    encoding: str
    #: units the body takes: septets for GSM-7, UTF-16 code units for UCS-2.
    units: int
    segments: int
    #: the distinct characters that force UCS-2 (empty for GSM-7), in order of first appearance, at most 10.
    ucs2_chars: tuple[str, ...]


def _gsm_units(char: str) -> int | None:
    try:
        return len(char.encode("gsm03.38"))
    except UnicodeEncodeError:
        return None


def measure(body: str) -> SmsLength:
    """The encoding and billed parts of `body` as an SMS."""
    try:  # the common case in one call: a body of one part, all GSM-7
        septets = len(body.encode("gsm03.38"))
        if septets <= _SINGLE[GSM7]:
            return SmsLength(GSM7, septets, 1 if septets else 0, ())
    except UnicodeEncodeError:
        pass
    widths: list[int] = []
    forcing: dict[str, None] = {}
    for char in body:
        width = _gsm_units(char)
        if width is None:
            forcing.setdefault(char, None)
        else:
            widths.append(width)
    if forcing:
        encoding = UCS2
        widths = [len(char.encode("utf-16-be")) // 2 for char in body]
    else:
        encoding = GSM7
    total = sum(widths)
    return SmsLength(encoding, total, _segments(widths, encoding), tuple(list(forcing)[:10]))


def _segments(widths: list[int], encoding: str) -> int:
    total = sum(widths)
    if total <= _SINGLE[encoding]:
        return 1 if total else 0
    size, parts, used = _PART[encoding], 1, 0
    for width in widths:  # a character (escape pair, surrogate pair) never straddles two parts
        if used + width > size:
            parts, used = parts + 1, 0
        used += width
    return parts
