"""The bounded Jinja2 sandbox that message templates render in (DESIGN section 11).

A template is code a user stores; rendering it must neither stall the server nor fill its memory. The bounds,
all in this process and this thread (no child process: rendering a million recipients stays cheap):

- No compile-time folding (`optimized=False`): `{{ 9**(9**8) }}` is never computed while compiling.
- Every operation that can make a value much bigger than its operands is checked *before* it runs: `**` and `*`
  on numbers (result size in bits), `*` `+` `%` `~` on strings and lists (result length), the string methods and
  filters that pad, repeat, replace or join, and `str.format` widths. Too big -> `TemplateLimit`.
- Every operation that builds text is charged against the output limit *before* it builds it, from an upper
  bound of the result's length (backend/campaigns/sandbox_sizes.py): `%` and `|format`, `str.format` and
  `format_map`, the text of a list, dict or namespace (`{{ [a] * 1000 }}`, `~`, `|string`, `|tojson`, `|join`),
  `|wordwrap`, `|indent`, `|sum` of lists, the escaping and case filters. `pprint` is gone.
- Every string such an operation makes counts against an allocation budget per render, and the output is capped.
- Time: every loop iteration (the code generator starts each for-loop body with `environment.tick()`), every
  call (macros, methods, `loop(...)`), every filter and every checked operator checks a deadline, so loops nested
  over `range` and recursive macros stop at it. (A trace function did the same for every line but made each
  render about four times slower.) Recursion deeper than Python allows is a `RecursionError`, which the caller
  turns into a refusal.
- Lists, dicts and sets cannot be changed in place (ImmutableSandboxedEnvironment), so `l.extend(l)` cannot
  double a list; `lipsum` is gone; `range` stays bounded by the sandbox (100,000).
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import wraps
from typing import Any

from jinja2 import StrictUndefined
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import Concat, EvalContext, Node
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from backend.campaigns.sandbox_sizes import format_size, printf_size, text_size

#: longest string (characters) a template may produce or build on the way.
MAX_OUTPUT_CHARS = 1_000_000
#: characters all the bounded operations of one render may allocate together.
MAX_ALLOCATED_CHARS = 8 * MAX_OUTPUT_CHARS
#: what one list item counts against the budgets (a pointer and, usually, an object of its own).
LIST_ITEM_COST = 8
#: largest whole number (bits) arithmetic may produce.
MAX_INT_BITS = 4096
#: largest number a size-like argument (width, count, tab size) may have.
MAX_SIZE_ARG = 100_000
#: time one render may take at most, in seconds.
RENDER_TIME_LIMIT_S = 1.0

_TEMPLATE_FILE = "<template>"
_WIDTH = re.compile(r"\d{6,}")


class TemplateLimit(SecurityError):
    """A template went past one of the bounds above; the message says which, in plain words."""


class _RenderState(threading.local):
    deadline: float = math.inf
    allocated: int = 0


_STATE = _RenderState()


def _precheck(size: int) -> None:
    """Refuse before building a text of (at most) `size` characters that would pass a limit; counts nothing
    (the text built is charged once it exists, at its real length)."""
    if size > MAX_OUTPUT_CHARS:
        raise TemplateLimit(f"it would build a text of more than {MAX_OUTPUT_CHARS:,} characters")
    if _STATE.allocated + size > MAX_ALLOCATED_CHARS:
        raise TemplateLimit(f"it builds more than {MAX_ALLOCATED_CHARS:,} characters of text")


def _charge(size: int) -> None:
    if size > MAX_OUTPUT_CHARS:
        raise TemplateLimit(f"it would build a text of more than {MAX_OUTPUT_CHARS:,} characters")
    _STATE.allocated += size
    if _STATE.allocated > MAX_ALLOCATED_CHARS:
        raise TemplateLimit(f"it builds more than {MAX_ALLOCATED_CHARS:,} characters of text")


def _check_deadline() -> None:
    if time.monotonic() > _STATE.deadline:
        raise TemplateLimit("it takes too long to render (a loop or recursion that does not end soon)")


def _sized(value: Any) -> int | None:
    """What a value costs against the budget: a character per character, LIST_ITEM_COST per list item."""
    if isinstance(value, str | bytes):
        return len(value)
    if isinstance(value, list | tuple):
        return len(value) * LIST_ITEM_COST
    return None


def _check_size_args(args: Iterable[Any]) -> None:
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_SIZE_ARG:
            raise TemplateLimit(f"a size of {MAX_SIZE_ARG:,} or more is not allowed")


def _check_format(fmt: Any, args: Iterable[Any]) -> None:
    if isinstance(fmt, str | bytes) and _WIDTH.search(fmt if isinstance(fmt, str) else fmt.decode("latin-1")):
        raise TemplateLimit("a format width of 100,000 or more is not allowed")
    _check_size_args(args)


def _estimate_method(name: str, owner: str | bytes, args: tuple[Any, ...]) -> int | None:
    """Result length of a growing str/bytes method, or None when the method does not grow its string."""
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(len(owner), int(args[0])) if args and isinstance(args[0], int) else len(owner)
    if name == "expandtabs":
        tab = int(args[0]) if args and isinstance(args[0], int) else 8
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        return len(owner) + tabs * tab
    if name == "replace" and len(args) >= 2 and _sized(args[0]) is not None and _sized(args[1]) is not None:
        old, new = args[0], args[1]
        try:
            hits = len(owner) + 1 if not old else owner.count(old)
        except TypeError:  # str.replace with bytes (or the reverse): the call itself will refuse it
            return None
        return len(owner) + hits * len(new)
    if name in ("upper", "lower", "title", "capitalize", "swapcase", "casefold"):
        return len(owner) if owner.isascii() else 3 * len(owner)
    if name == "join" and args:
        parts = list(args[0])
        return sum(len(p) if isinstance(p, str | bytes) else 0 for p in parts) + len(owner) * len(parts)
    return None


class BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to a call that checks the result's length first, and starts every loop iteration with a
    deadline check (`environment.tick()`)."""

    def writeline(self, x: str, node: Node | None = None, extra: int = 0) -> None:
        super().writeline(x, node, extra)
        if x == "_loop_vars = {}":  # the first line of every for-loop body (jinja2 3.1 visit_For)
            super().writeline("environment.tick()")

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})
    code_generator_class = BoundedCodeGenerator

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, optimized=False)
        self.globals.pop("lipsum", None)
        self.finalize = self.finalize_output
        # pprint's indentation grows with nesting times items: no bound short of building it, and no use in a message.
        self.filters.pop("pprint", None)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}

    def concat(self, parts: Iterable[str]) -> str:
        pieces = parts if isinstance(parts, list) else list(parts)
        _charge(sum(len(p) for p in pieces))
        return "".join(pieces)

    @staticmethod
    def finalize_output(value: Any) -> Any:
        """What `{{ value }}` prints is str(value): its length is checked before it is built."""
        if not isinstance(value, str):
            _precheck(text_size(value, MAX_OUTPUT_CHARS))
        return value

    def tick(self) -> None:
        _check_deadline()

    def bounded_join(self, parts: tuple[Any, ...]) -> str:
        _precheck(sum(text_size(p, MAX_OUTPUT_CHARS) for p in parts))
        texts = [str(p) for p in parts]
        _charge(sum(len(t) for t in texts))
        return "".join(texts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_deadline()
        if operator == "**" and _is_number(left) and _is_number(right):
            if abs(left) > 1 and right > 0 and right * math.log2(abs(left)) > MAX_INT_BITS:
                raise TemplateLimit(f"a power that large is not allowed (more than {MAX_INT_BITS} bits)")
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                size = _sized(seq)
                if size is not None and isinstance(times, int):
                    _charge(size * max(times, 0))
            both_ints = isinstance(left, int) and isinstance(right, int)
            if both_ints and abs(left).bit_length() + abs(right).bit_length() > MAX_INT_BITS:
                raise TemplateLimit(f"a number that large is not allowed (more than {MAX_INT_BITS} bits)")
        elif operator == "+":
            left_size, right_size = _sized(left), _sized(right)
            if left_size is not None and right_size is not None:
                _charge(left_size + right_size)
        elif operator == "%" and isinstance(left, str | bytes):
            _check_format(left, right if isinstance(right, tuple) else (right,))
            _precheck(printf_size(left, right, MAX_OUTPUT_CHARS))
            result = super().call_binop(context, operator, left, right)
            _charge(len(result))
            return result
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _check_deadline()
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        if isinstance(owner, str | bytes) and not isinstance(owner, type):
            if name in ("translate", "maketrans"):
                raise TemplateLimit(f"`{name}` is not available in templates")
            _check_size_args((*args, *kwargs.values()))
            if name == "join" and args:
                args = (list(args[0]), *args[1:])  # counted below, then joined: an iterator is read once
            size = _estimate_method(name, owner, args)
            if size is not None:
                _precheck(size)
        result = super().call(__context, __obj, *args, **kwargs)
        size = _sized(result)
        if size is not None and result is not owner:
            _charge(size)
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format(fmt, (*args, *kwargs.values()))
            if value.__name__ == "format_map" and args and isinstance(args[0], dict):
                size = format_size(fmt, (), args[0], MAX_OUTPUT_CHARS)  # the mapping's values are what prints
            else:
                size = format_size(fmt, args, kwargs, MAX_OUTPUT_CHARS)
            _precheck(size)
            return wrapped(*args, **kwargs)

        return checked


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


#: filters whose result is the text of their value grown at most this many times (`&` -> `&amp;`, a character
#: -> up to 12 characters of %XX, upper-casing "ﬃ" -> "FFI").
_TEXT_FILTERS = {
    "string": 1, "trim": 1, "striptags": 1, "truncate": 1, "safe": 1, "capitalize": 3, "title": 3,
    "upper": 3, "lower": 3, "escape": 6, "e": 6, "forceescape": 6, "xmlattr": 6, "urlize": 6, "urlencode": 12,
}  # fmt: skip
_ESCAPED = "&<>'\""


def _grown_text(name: str, value: Any) -> int:
    """Upper bound of the length of a text filter's result (exact growth for a plain string where it is cheap)."""
    if isinstance(value, str):
        if name in ("capitalize", "title", "upper", "lower") and value.isascii():
            return len(value)
        if name in ("escape", "e", "forceescape"):
            return len(value) + 4 * sum(value.count(c) for c in _ESCAPED)
        if name == "urlencode":
            return 3 * len(value.encode("utf-8", "surrogatepass"))
    return text_size(value, MAX_OUTPUT_CHARS) * _TEXT_FILTERS[name]


def _filter_precheck(name: str, value: Any, rest: list[Any], kwargs: dict[str, Any]) -> None:
    """Refuse, before the filter runs, a result longer than the limits (the filters that build text)."""
    if name == "format":
        _check_format(value, (*rest, *kwargs.values()))
        _precheck(printf_size(str(value), kwargs or tuple(rest), MAX_OUTPUT_CHARS))
    elif name in _TEXT_FILTERS:
        _precheck(_grown_text(name, value))
    elif name == "tojson":
        indent = rest[0] if rest else kwargs.get("indent")
        _precheck(text_size((value,), MAX_OUTPUT_CHARS, indent if isinstance(indent, int) else 0))
    elif name == "join":
        glue = rest[0] if rest else kwargs.get("d", "")
        items = list(value) if isinstance(value, list | tuple | range) else [value]
        _precheck(sum(text_size(v, MAX_OUTPUT_CHARS) for v in items) + text_size(glue, MAX_OUTPUT_CHARS) * len(items))
    elif name == "wordwrap" and isinstance(value, str):
        width = rest[0] if rest else kwargs.get("width", 79)
        glue = rest[2] if len(rest) > 2 else kwargs.get("wrapstring") or "\n"
        pieces = len(value) // max(int(width), 1) + value.count("\n") + 1
        _precheck(len(value) + pieces * text_size(glue, MAX_OUTPUT_CHARS))
    elif name == "indent" and isinstance(value, str):
        width = rest[0] if rest else kwargs.get("width", 4)
        _precheck(len(value) + (value.count("\n") + 1) * text_size(width, MAX_OUTPUT_CHARS))
    elif name == "replace" and isinstance(value, str) and len(rest) >= 2:
        _precheck(_estimate_method("replace", value, (str(rest[0]), str(rest[1]))) or 0)
    elif name == "center" and isinstance(value, str):
        width = rest[0] if rest else kwargs.get("width", 80)
        _precheck(max(len(value), int(width)))
    elif name == "sum":
        _precheck_sum(value, rest[1] if len(rest) > 1 else kwargs.get("start", 0))


def _precheck_sum(value: Any, start: Any) -> None:
    """`[[a], [b], ...] | sum(start=[])` copies the list built so far at every step: charge every copy."""
    if _sized(start) is None or not isinstance(value, list | tuple):
        return
    built = copied = _sized(start) or 0
    for item in value:
        built += _sized(item) or 0
        copied += built
        _precheck(copied)


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter with its size-like arguments checked and its result's length bounded before it runs, and
    its result counted after."""

    @wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_deadline()
        # The filtered value comes first (after the context or environment the filter may ask for).
        values = [a for a in args if not isinstance(a, Context | EvalContext | ImmutableSandboxedEnvironment)]
        value, rest = (values[0], values[1:]) if values else (None, [])
        _check_size_args((*rest, *kwargs.values()))
        _filter_precheck(name, value, rest, kwargs)
        result = func(*args, **kwargs)
        size = _sized(result)
        if size is not None:
            _charge(size)
        return result

    return bounded


def bounded_render(chunks: Callable[[], Iterator[str]], seconds: float) -> str:
    """Run a template's generator under the deadline, the allocation budget and the output cap."""
    _STATE.deadline = time.monotonic() + seconds
    _STATE.allocated = 0
    out: list[str] = []
    total = 0
    try:
        for piece in chunks():
            total += len(piece)
            if total > MAX_OUTPUT_CHARS:
                raise TemplateLimit(f"its text is longer than {MAX_OUTPUT_CHARS:,} characters")
            out.append(piece)
    finally:
        _STATE.deadline = math.inf
    return "".join(out)
