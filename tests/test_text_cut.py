"""The list preview's cut by the characters a person sees: against Unicode's own grapheme break test file (kept in
tests/data/unicode with its licence) and, with Hypothesis, on any text with emoji, joiners, flags and combining
marks: never more clusters than asked, always a prefix that ends between clusters."""

from __future__ import annotations

from pathlib import Path

import regex
from hypothesis import given
from hypothesis import strategies as st

from backend.conversations.preview import ELLIPSIS, cut, preview

BREAK_TEST = Path(__file__).parent / "data" / "unicode" / "GraphemeBreakTest.txt"
# The one line where the `regex` module (a newer Unicode than the file's 15.0) reads a cluster differently: a ZWJ
# between two U+2701 UPPER BLADE SCISSORS; regex breaks after the joiner. Any other difference fails the test.
KNOWN_DIFFERENCES = {"2701 200D 2701"}


def cases() -> list[tuple[str, list[str]]]:
    out = []
    for raw in BREAK_TEST.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.strip("÷ ").split("÷")
        clusters = ["".join(chr(int(c, 16)) for c in part.replace("×", " ").split()) for part in parts]
        key = " ".join(f"{ord(ch):04X}" for ch in "".join(clusters))
        out.append((key, clusters))
    return out


def test_it_cuts_every_line_of_the_unicode_break_test_between_clusters() -> None:
    every = cases()
    assert len(every) > 600
    differing = set()
    for key, clusters in every:
        text = "".join(clusters)
        for limit in range(1, len(clusters) + 2):
            got = cut(text, limit)
            want = text if limit >= len(clusters) else "".join(clusters[: limit - 1]) + ELLIPSIS
            if got != want:
                differing.add(key)
    assert differing == KNOWN_DIFFERENCES


PIECES = st.sampled_from(
    [
        "a",
        "é",
        "e\u0301",  # e and a combining acute
        "\U0001f44d\U0001f3fd",  # thumbs up, medium skin tone
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",  # family, joined
        "\U0001f1eb\U0001f1f7",  # a flag: two regional indicators
        "\u0915\u094d\u0937",  # Devanagari conjunct
        "\r\n",
        " ",
        "\u200d",
    ]
)
TEXTS = st.one_of(st.text(max_size=60), st.lists(PIECES, max_size=40).map("".join))


@given(TEXTS, st.integers(min_value=1, max_value=50))
def test_it_never_returns_more_clusters_than_asked_nor_cuts_inside_one(text: str, limit: int) -> None:
    clusters = regex.findall(r"\X", text, flags=regex.DOTALL)
    got = cut(text, limit)
    if len(clusters) <= limit:
        assert got == text
        return
    assert got.endswith(ELLIPSIS)
    kept = got[: -len(ELLIPSIS)]
    assert regex.findall(r"\X", kept, flags=regex.DOTALL) == clusters[: limit - 1]
    assert len(regex.findall(r"\X", got, flags=regex.DOTALL)) <= limit


@given(TEXTS)
def test_it_makes_one_line_of_any_message(text: str) -> None:
    line = preview(text)
    assert "\n" not in line and "\r" not in line and line == line.strip()
    assert len(regex.findall(r"\X", line, flags=regex.DOTALL)) <= 120
