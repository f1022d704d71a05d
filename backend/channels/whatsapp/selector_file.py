"""`<data dir>/whatsapp-selectors.json`: the user's selector overrides, read and checked (DESIGN section 8).

{"<selector name>": ["css", ...] or "css"}: names as in `selectors.BY_NAME`. Whatever the file holds (bad JSON,
a wrong shape, nesting 100,000 deep, megabytes), the answer is SelectorFileError with one sentence, never another
exception: the settings route turns it into a 400, the session into "Failed to initialize client: <sentence>".
"""

from __future__ import annotations

import json
from pathlib import Path

from backend.channels.whatsapp.selectors import BY_NAME, OVERRIDES_FILE


class SelectorFileError(Exception):
    """whatsapp-selectors.json cannot be used; the message says what is wrong, in one sentence."""


_BRACKETS = {"[": "]", "(": ")"}


def _css_problem(css: str) -> str | None:
    """A reason this cannot be a CSS selector, None when it looks like one (the browser checks it fully)."""
    if not css.strip():
        return "is empty"
    if any(c in css for c in "{};"):
        return "contains { } or ; (a selector, not a style rule, is expected)"
    stack: list[str] = []
    quote: str | None = None
    for c in css:
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c in _BRACKETS:
            stack.append(_BRACKETS[c])
        elif c in ")]" and (not stack or stack.pop() != c):
            return f"has an unmatched {c!r}"
    if quote or stack:
        return "has an unclosed quote or bracket"
    return None


def load_overrides(path: Path) -> dict[str, tuple[str, ...]]:
    """Read and check `path` ({"<selector name>": ["css", ...] or "css"}); {} when there is no such file.

    Raises SelectorFileError naming the problem (bad JSON, unknown name, not a list of selectors, a selector
    that cannot be CSS)."""
    if not path.exists():
        return {}
    where = path.name
    try:
        with path.open("rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise SelectorFileError(f"{where} is larger than {MAX_FILE_BYTES // 1024} KB; a selectors file is small.")
        raw = parse_overrides(data.decode("utf-8"), where)
    except UnicodeDecodeError as exc:
        raise SelectorFileError(f"{where} is not UTF-8 text (byte {exc.start + 1}).") from exc
    except OSError as exc:
        raise SelectorFileError(f"{where} cannot be read ({exc.strerror or type(exc).__name__}).") from exc
    return check_overrides(raw, where)


#: a selectors file holds a few dozen names; anything far larger is not one.
MAX_FILE_BYTES = 256 * 1024
#: {"name": ["css", ...]} is nested two deep; deeper input is refused before the JSON parser sees it (it would
#: recurse once per level: 100,000 levels raise RecursionError, which must never reach the user as a 500).
MAX_DEPTH = 4


def parse_overrides(text: str, where: str = OVERRIDES_FILE) -> object:
    """The JSON value of `text`; raises SelectorFileError for bad JSON or nesting deeper than MAX_DEPTH."""
    depth = deepest = 0
    quoted = escaped = False
    for c in text:  # a linear scan of brackets outside strings: bounded work whatever the input
        if quoted:
            escaped, quoted = (False, True) if escaped else (c == "\\", c != '"')
        elif c == '"':
            quoted = True
        elif c in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_DEPTH:
                raise SelectorFileError(
                    f'{where} is nested too deeply; it must hold an object like {{"message box": ["css selector"]}}.'
                )
        elif c in "]}":
            depth -= 1
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SelectorFileError(f"{where} is not valid JSON (line {exc.lineno}, column {exc.colno}).") from exc
    except RecursionError as exc:  # not reachable after the depth check; kept so no input becomes a 500
        raise SelectorFileError(f"{where} is nested too deeply.") from exc


def check_overrides(raw: object, where: str = OVERRIDES_FILE) -> dict[str, tuple[str, ...]]:
    """The overrides `raw` (parsed JSON) describes; raises SelectorFileError naming the first problem."""
    if not isinstance(raw, dict):
        raise SelectorFileError(f'{where} must hold an object like {{"message box": ["css selector"]}}.')
    result: dict[str, tuple[str, ...]] = {}
    for name, value in raw.items():
        if name not in BY_NAME:
            known = ", ".join(f'"{n}"' for n in BY_NAME)
            raise SelectorFileError(f'{where}: "{name}" is not a selector name (known names: {known}).')
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise SelectorFileError(f'{where}: "{name}" must be a CSS selector or a non-empty list of them.')
        for css in values:
            problem = _css_problem(css)
            if problem:
                raise SelectorFileError(f'{where}: the selector {css!r} for "{name}" {problem}.')
        result[name] = tuple(v.strip() for v in values)
    return result
