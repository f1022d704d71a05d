"""Text cut for a list line by the characters a person sees: extended grapheme clusters (Unicode UAX #29), so an
emoji with skin tone or family joiners, a flag or a letter with combining accents is never cut in half.

The clusters come from the `regex` module's `\\X` (it follows the Unicode version it ships); the standard `re`
has no grapheme support.
"""

from __future__ import annotations

import regex

CLUSTER = regex.compile(r"\X", regex.DOTALL)
SPACES = regex.compile(r"\s+")
ELLIPSIS = "…"
#: a conversation list line: enough for two lines on a phone, cut again by CSS where it must.
PREVIEW_CLUSTERS = 120


def cut(text: str, limit: int) -> str:
    """At most `limit` grapheme clusters of `text`; when it is longer, the first `limit - 1` and an ellipsis."""
    if limit < 1:
        return ""
    if len(text) <= limit:  # a cluster holds at least one code point
        return text
    end = 0
    for count, match in enumerate(CLUSTER.finditer(text), start=1):
        if count == limit:
            if match.end() == len(text):
                return text
            return text[:end] + ELLIPSIS
        end = match.end()
    return text


def preview(body: str | None, limit: int = PREVIEW_CLUSTERS) -> str:
    """One line for a list: whitespace runs become one space, then cut by clusters."""
    return cut(SPACES.sub(" ", body or "").strip(), limit)
