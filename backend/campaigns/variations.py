"""Message variations: `{Hi|Hello|Hey}` picks one option per recipient (DESIGN section 15).

Rules: groups nest; `\\{` `\\|` `\\}` are a brace or bar of their own; braces with no `|` at their top level are
left as they are (`{name}` is text, with a hint that `{{ name }}` was probably meant); anything inside Jinja's
`{{ }}`, `{% %}` and `{# #}` is never read as a variation; an option may hold placeholders (`{Hi {{ name }}|Hello}`).

A source with variations is turned into ONE Jinja source in which each group is an `if`/`elif` over the pick of
that group: `{% if bulkmsg_variant[0] == 0 %}Hi{% elif ... %}`. It is compiled once, and a recipient's picks come
from a hash of the campaign's `variation_seed`, the recipient's key (the contact id) and the group's number, so
the preview, the stored body and the sent body are the same text, and a recipient needs only the placeholders
of the options picked for them.

Written here because no maintained library parses spintax nested inside Jinja markup and picks options
reproducibly per recipient; the grammar is small and fully covered by tests/test_variations.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

#: the template name each group's pick is read from (a name no contact field can take: fields live under `fields`).
PICKS_NAME = "bulkmsg_variant"
MAX_GROUPS = 200
MAX_DEPTH = 5
MAX_OPTIONS = 50
#: variants_total is reported up to this number (a larger count reads as "more than").
MAX_COUNTED = 10**15
_JINJA_OPEN = {"{{": "}}", "{%": "%}", "{#": "#}"}


class VariationError(ValueError):
    """A source whose braces do not pair up or that passes a limit; `line` and `column` count from 1."""

    def __init__(self, reason: str, line: int, column: int) -> None:
        super().__init__(f"{reason} at line {line}, column {column}")
        self.reason, self.line, self.column = reason, line, column


@dataclass
class Group:
    """`{a|b}` (`options` >= 2) or, with one option, braces that are text."""

    number: int
    options: list[list[str | Group]]
    line: int
    column: int

    @property
    def is_choice(self) -> bool:
        return len(self.options) > 1


@dataclass
class Parsed:
    parts: list[str | Group]
    sizes: dict[int, int] = field(default_factory=dict)  # group number -> how many options
    text_braces: list[str] = field(default_factory=list)  # `{name}`-like braces left as text

    @property
    def has_choices(self) -> bool:
        return bool(self.sizes)


class _Parser:
    def __init__(self, source: str) -> None:
        self.src = source
        self.pos = 0
        self.groups = 0
        self.sizes: dict[int, int] = {}
        self.text_braces: list[str] = []

    def where(self, pos: int) -> tuple[int, int]:
        line = self.src.count("\n", 0, pos) + 1
        return line, pos - (self.src.rfind("\n", 0, pos) + 1) + 1

    def fail(self, reason: str, pos: int) -> VariationError:
        return VariationError(reason, *self.where(pos))

    def parse(self) -> Parsed:
        parts = self.sequence(depth=0, in_group=False)[0]
        return Parsed(parts, self.sizes, self.text_braces)

    def sequence(self, depth: int, in_group: bool) -> tuple[list[str | Group], str]:
        """Parts up to the end (or, inside a group, up to an unescaped `|` or `}`); returns them and the stop."""
        parts: list[str | Group] = []
        text: list[str] = []
        src = self.src
        while self.pos < len(src):
            ch = src[self.pos]
            pair = src[self.pos : self.pos + 2]
            if pair in _JINJA_OPEN:
                end = src.find(_JINJA_OPEN[pair], self.pos + 2)
                stop = len(src) if end < 0 else end + 2  # an unclosed tag is left for Jinja to name
                text.append(src[self.pos : stop])
                self.pos = stop
            elif ch == "\\" and pair[1:] in ("{", "|", "}"):
                text.append('{{ "{" }}' if pair[1] == "{" else pair[1])
                self.pos += 2
            elif ch == "{":
                if text:
                    parts.append("".join(text))
                    text = []
                parts.append(self.group(depth + 1))
            elif in_group and ch in "|}":
                break
            elif ch == "}":
                raise self.fail("a `}` closes no `{` (write \\} for a brace of its own)", self.pos)
            else:
                text.append(ch)
                self.pos += 1
        if text:
            parts.append("".join(text))
        return parts, (src[self.pos] if self.pos < len(src) else "")

    def group(self, depth: int) -> Group:
        start = self.pos
        if depth > MAX_DEPTH:
            raise self.fail(f"variations nest more than {MAX_DEPTH} deep", start)
        self.pos += 1
        options: list[list[str | Group]] = []
        while True:
            parts, stop = self.sequence(depth, in_group=True)
            options.append(parts)
            if stop == "}":
                self.pos += 1
                break
            if stop != "|":
                raise self.fail("a `{` is never closed (write \\{ for a brace of its own)", start)
            self.pos += 1
            if len(options) >= MAX_OPTIONS:
                raise self.fail(f"a variation has more than {MAX_OPTIONS} options", start)
        number = -1
        if len(options) > 1:
            number = self.groups
            self.groups += 1
            if self.groups > MAX_GROUPS:
                raise self.fail(f"more than {MAX_GROUPS} variations", start)
            self.sizes[number] = len(options)
        else:
            self.text_braces.append(self.src[start + 1 : self.pos - 1])
        return Group(number, options, *self.where(start))


def parse(source: str) -> Parsed:
    """The variation tree of `source`; raises VariationError naming the line and column of a brace that is off."""
    return _Parser(source).parse()


def to_jinja(parsed: Parsed) -> str:
    """One Jinja source that renders the picked option of every group (text braces kept as they were)."""
    return "".join(_emit(part) for part in parsed.parts)


def _emit(part: str | Group) -> str:
    if isinstance(part, str):
        return part
    if not part.is_choice:
        return "{" + "".join(_emit(p) for p in part.options[0]) + "}"
    out = []
    for index, option in enumerate(part.options):
        word = "if" if index == 0 else "elif"
        out.append(f"{{% {word} {PICKS_NAME}[{part.number}] == {index} %}}" + "".join(_emit(p) for p in option))
    return "".join(out) + "{% endif %}"


def variants_total(parsed: Parsed) -> int:
    """How many different texts the variations can make (at most MAX_COUNTED)."""
    return min(_count(parsed.parts), MAX_COUNTED)


def _count(parts: list[str | Group]) -> int:
    total = 1
    for part in parts:
        if isinstance(part, Group):
            total *= sum(_count(o) for o in part.options) if part.is_choice else _count(part.options[0])
            total = min(total, MAX_COUNTED)
    return total


class Picks:
    """One recipient's pick of each group: `picks[n]` is an option index, fixed by (seed, key, n)."""

    def __init__(self, sizes: dict[int, int], seed: int, key: object) -> None:
        self._sizes, self._prefix = sizes, f"{seed}:{key}:"

    def __getitem__(self, number: int) -> int:
        size = self._sizes.get(number, 1)
        digest = hashlib.blake2b(f"{self._prefix}{number}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % size
