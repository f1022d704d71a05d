"""How long a text the template sandbox is about to build, known before it is built (DESIGN section 11).

The sandbox charges every string-building operation against its output limit *before* the string exists: the
`%` operator and the `format` filter (printf style), `str.format` and `str.format_map`, the text of a list or
a dict (`{{ [a] * 1000 }}`, `~`, `|string`, `|tojson`, `|join` of lists). Each function here returns an upper
bound of the length of that result, and stops counting once the bound passes `limit` (it returns `limit + 1`
then), so estimating a huge result costs no more than the limit.

No library estimates the size of `%` or `format` results without building them; these bounds are
deliberately loose (every conversion may be as long as the longest argument), which refuses nothing a message
template needs: a few placeholders of a few hundred characters each.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2.utils import Namespace

#: what a value of a type the sandbox does not know may print as (a macro, a loop, a cycler: a short repr).
OTHER_REPR = 200
#: printf conversions: `%(name)-08.3f`, `%*d`, `%%`.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")
_FORMATTER = string.Formatter()


def quoted_size(text: str) -> int:
    """Upper bound of len(repr(text)) and of len(json.dumps(text)) (quotes and escapes included)."""
    if text.isascii():
        plain = text.isprintable() and not any(c in text for c in "'\"\\<>&")
        return len(text) + 2 if plain else 6 * len(text) + 2
    return 12 * len(text) + 2  # \U0001f600 in repr, a surrogate pair \ud83d\ude00 in JSON


def text_size(value: Any, limit: int, indent: int = 0) -> int:
    """Upper bound of len(str(value)), at most `limit + 1`; with `indent`, of json.dumps(value, indent=indent)
    (each item on a line of its own, indented by its depth). Containers are walked without recursion."""
    if isinstance(value, str) and not indent:
        return len(value)
    total = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        total += _leaf_size(item, depth, stack) + (1 + indent * depth if indent else 0)
        if total > limit:
            return limit + 1
    return total


def _leaf_size(item: Any, depth: int, stack: list[tuple[Any, int]]) -> int:
    """The characters `item` adds to its container's text; its own items are pushed on `stack`."""
    if isinstance(item, str):
        return quoted_size(item)
    if isinstance(item, bytes | bytearray):
        return 4 * len(item) + 14
    if isinstance(item, bool) or item is None:
        return 7
    if isinstance(item, int):
        return item.bit_length() * 30103 // 100000 + 3
    if isinstance(item, float):
        return 26
    if isinstance(item, Mapping):
        stack.extend((key, depth + 1) for key in item)
        stack.extend((val, depth + 1) for val in item.values())
        return 4 * len(item) + 2 + (40 if type(item) is not dict else 0)
    if isinstance(item, list | tuple | set | frozenset):
        stack.extend((member, depth + 1) for member in item)
        return 2 * len(item) + 13
    if isinstance(item, Namespace):
        attrs = item._Namespace__attrs  # its repr prints this dict
        stack.append((attrs, depth))
        return 14
    if isinstance(item, range):
        return 50
    return OTHER_REPR


def _max_text(values: Iterable[Any], limit: int, quoted: bool = False) -> int:
    """The longest text of `values` (as repr when `quoted`: `%r`, `{!r}`)."""
    best = 0
    for value in values:
        best = max(best, text_size((value,) if quoted else value, limit))
        if best > limit:
            break
    return best


def _widths(spec: str, args: Iterable[Any]) -> int:
    """The largest width or precision a format spec names, or an int argument may supply through `*` / `{}`."""
    named = [int(d) for d in _DIGITS.findall(spec) if len(d) < 8]
    from_args = [abs(a) for a in args if isinstance(a, int) and not isinstance(a, bool)]
    return max([0, *named, *from_args])


def printf_size(fmt: str | bytes, args: Any, limit: int) -> int:
    """Upper bound of len(fmt % args): every conversion as long as the widest argument text or width."""
    text = fmt if isinstance(fmt, str) else fmt.decode("latin-1")
    conversions = _PRINTF.findall(text)
    if not conversions:
        return len(text)
    values = list(args.values()) if isinstance(args, Mapping) else list(args) if isinstance(args, tuple) else [args]
    if isinstance(args, Mapping):
        values.append(args)  # `%s` % {...} prints the whole mapping
    quoted = any(c[-1] in "ra" for c in conversions)
    per_conversion = _max_text(values, limit, quoted) + _widths(" ".join(conversions), values)
    return min(limit + 1, len(text) + len(conversions) * per_conversion)


def format_size(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    """Upper bound of len(fmt.format(*args, **kwargs)) (format_map too: pass the mapping as kwargs)."""
    try:
        fields = list(_FORMATTER.parse(fmt))
    except ValueError:
        return len(fmt)  # str.format will refuse it
    replacements = [(spec or "") for _, name, spec, _ in fields if name is not None]
    if not replacements:
        return len(fmt)
    values = [*args, *kwargs.values()]
    quoted = any(conversion in ("r", "a") for _, name, _, conversion in fields if name is not None)
    # A nested field (`{0:{1}}`) or an attribute/item of an argument is never longer than the argument's text.
    per_field = _max_text(values, limit, quoted) + _widths(" ".join(replacements), values)
    return min(limit + 1, len(fmt) + len(replacements) * per_field)
