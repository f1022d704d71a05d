"""The audience filter (DESIGN section 14): a JSON tree checked into typed nodes, every problem named by its path.

A tree is `{"all": [..]}`, `{"any": [..]}`, `{"not": X}` or a leaf `{"field", "op", "value"}`. `parse(tree)`
returns the checked tree or raises `FilterError` (HTTP 400 `invalid_filter`) whose `details` list each problem as
{"path": "all.1.op", "reason"}. Values come out normalised as the store holds them (text folded, dates aware
UTC), so backend/audience/filter_sql.py only binds them. Limits: depth (nested all / any / not) <= 5, at most 50
leaves, `fields.` keys `^[A-Za-z0-9_]{1,64}$`, text values <= 500 characters, `in` lists <= 1,000 values.
No library does this: JSON-logic and query-builder packages evaluate in Python or emit raw SQL text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from backend.errors import ApiError
from backend.store.search_key import fold

MAX_DEPTH = 5
MAX_LEAVES = 50
MAX_TEXT = 500
MAX_LIST = 1000
MAX_DAYS = 36_500
MAX_TAG = 100
#: the largest id the store holds (a BIGINT).
MAX_ID = 2**63 - 1
FIELD_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")
CAMPAIGN_FIELD = re.compile(r"^campaign\.([0-9]{1,19})\.(received|delivered|failed|replied)$")

TEXT_OPS = ("eq", "ne", "contains", "not_contains", "starts_with", "in", "not_in", "is_set", "is_not_set")
NUMBER_OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "between")
DATE_OPS = ("before", "after", "within_last_days", "more_than_days_ago", "is_set", "is_not_set")
TAG_OPS = ("has_any", "has_all", "has_none")
BOOL_OPS = ("is",)
TEXT_FIELDS = ("name", "email", "phone", "country", "timezone")
DATE_FIELDS = ("created_at", "last_inbound_at", "last_sent_at")
BOOL_FIELDS = (
    "opted_out.sms",
    "opted_out.email",
    "opted_out.whatsapp",
    "opted_out.any",
    "has.phone",
    "has.email",
)
#: the fields a user may name (for messages and the UI); `fields.<key>` and `campaign.<id>.<what>` are patterns.
FIELDS = (*TEXT_FIELDS, "created_at", "tags", "fields.<key>", *BOOL_FIELDS, "last_inbound_at", "last_sent_at")

Kind = Literal["text", "number", "date", "tags", "bool"]


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    kind: Kind
    #: text: str or list[str]; number: float or (low, high); date: datetime or days (int); tags: list[str]
    #: (folded names); bool: bool; None for is_set / is_not_set.
    value: Any


@dataclass(frozen=True)
class Group:
    mode: Literal["all", "any"]
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Leaf | Group | Not


class FilterError(ApiError):
    """A filter that cannot be run: 400 `invalid_filter` listing each problem with its path."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        first = details[0]
        where = f" at {first['path']}" if first["path"] else ""
        super().__init__(400, "invalid_filter", f"The filter is not valid{where}: {first['reason']}.", details)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[dict[str, str]] = []
        self.leaves = 0

    def problem(self, path: str, reason: str) -> None:
        if len(self.problems) < 100:
            self.problems.append({"path": path, "reason": reason})

    def node(self, raw: Any, path: str, depth: int) -> Node | None:
        if not isinstance(raw, dict):
            self.problem(path, "must be an object: all, any, not or a condition {field, op, value}")
            return None
        groups = [k for k in ("all", "any", "not") if k in raw]
        if groups:
            if len(raw) != 1:
                self.problem(path, "a group holds one key: all, any or not")
                return None
            key = groups[0]
            inner = _join(path, key)
            if depth >= MAX_DEPTH:
                self.problem(inner, f"a filter nests at most {MAX_DEPTH} levels")
                return None
            if key == "not":
                child = self.node(raw["not"], inner, depth + 1)
                return Not(child) if child is not None else None
            items = raw[key]
            if not isinstance(items, list):
                self.problem(inner, "must be a list of conditions")
                return None
            children = [self.node(item, _join(inner, str(i)), depth + 1) for i, item in enumerate(items)]
            kept = tuple(c for c in children if c is not None)
            return Group("all" if key == "all" else "any", kept) if len(kept) == len(children) else None
        return self.leaf(raw, path)

    def leaf(self, raw: dict[str, Any], path: str) -> Leaf | None:
        self.leaves += 1
        if self.leaves > MAX_LEAVES:
            if self.leaves == MAX_LEAVES + 1:
                self.problem(path, f"a filter has at most {MAX_LEAVES} conditions")
            return None
        extra = sorted(set(raw) - {"field", "op", "value"})
        if extra:
            self.problem(_join(path, extra[0]), "unknown key: a condition has field, op and value")
            return None
        field, op = raw.get("field"), raw.get("op")
        kinds = _kinds_of(field) if isinstance(field, str) else None
        if kinds is None:
            self.problem(_join(path, "field"), "unknown field")
            return None
        allowed = [o for kind in kinds for o in _OPS[kind]]
        if not isinstance(op, str) or op not in allowed:
            self.problem(_join(path, "op"), f"for {field} use one of {', '.join(dict.fromkeys(allowed))}")
            return None
        kind = _kind_for(kinds, op, raw.get("value"))
        assert isinstance(field, str)
        value, reason = _VALUE[kind](field, op, raw.get("value"))
        if reason:
            self.problem(_join(path, "value"), reason)
            return None
        return Leaf(field, op, kind, value)


_OPS: dict[Kind, tuple[str, ...]] = {
    "text": TEXT_OPS,
    "number": NUMBER_OPS,
    "date": DATE_OPS,
    "tags": TAG_OPS,
    "bool": BOOL_OPS,
}


def _join(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _kinds_of(field: str) -> tuple[Kind, ...] | None:
    if field in TEXT_FIELDS:
        return ("text",)
    if field in DATE_FIELDS:
        return ("date",)
    if field == "tags":
        return ("tags",)
    campaign = CAMPAIGN_FIELD.match(field)
    if field in BOOL_FIELDS or (campaign and int(campaign.group(1)) <= MAX_ID):
        return ("bool",)
    if field.startswith("fields.") and FIELD_KEY.match(field[len("fields.") :]):
        return ("text", "number")
    return None


def _kind_for(kinds: tuple[Kind, ...], op: str, value: Any) -> Kind:
    if len(kinds) == 1:
        return kinds[0]
    # A custom field: order operators and numbers compare as numbers, anything else as text.
    if op in ("lt", "lte", "gt", "gte", "between") or (op in ("eq", "ne") and _is_number(value)):
        return "number"
    return "text"


def _is_number(value: Any) -> bool:
    """A finite number a float holds (an integer of 400 digits is not: float() of it overflows)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def fold_for(field: str, text: str) -> str:
    """`text` as the store holds `field` for comparison: folded (names, custom fields), lower-case (email, as
    stored), digits and + (phone, E.164), upper-case (country code)."""
    if field == "email":
        return text.strip().lower()
    if field == "phone":
        return re.sub(r"[\s().\-/]", "", text)
    if field == "country":
        return text.strip().upper()
    return fold(text)


def _text(field: str, op: str, value: Any) -> tuple[Any, str | None]:
    if op in ("is_set", "is_not_set"):
        return None, None
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return None, "give a list of values"
        if len(value) > MAX_LIST:
            return None, f"give at most {MAX_LIST} values"
        items = []
        for item in value:
            one, reason = _scalar_text(item)
            if reason:
                return None, reason
            items.append(fold_for(field, one))
        return sorted(set(items)), None
    one, reason = _scalar_text(value)
    return (fold_for(field, one), None) if not reason else (None, reason)


def _scalar_text(value: Any) -> tuple[str, str | None]:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return "", "must be text"
    if isinstance(value, int) and abs(value) > MAX_ID:
        return "", "must be text or a number of at most 19 digits"
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TEXT:
        return "", f"must be at most {MAX_TEXT} characters"
    if "\x00" in text:
        return "", "must not hold a NUL character"
    return text, None


def _number(field: str, op: str, value: Any) -> tuple[Any, str | None]:
    if op == "between":
        if not (isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)):
            return None, "give two numbers: [low, high]"
        low, high = sorted(float(v) for v in value)
        return (low, high), None
    if not _is_number(value):
        return None, "must be a number"
    return float(value), None


def _date(field: str, op: str, value: Any) -> tuple[Any, str | None]:
    if op in ("is_set", "is_not_set"):
        return None, None
    if op in ("within_last_days", "more_than_days_ago"):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_DAYS:
            return None, f"must be a whole number of days from 0 to {MAX_DAYS}"
        return value, None
    if not isinstance(value, str) or len(value) > 40 or "\x00" in value:
        return None, "must be a date (2026-12-31) or an ISO 8601 time"
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            # A day: "before" it is before its start, "after" it is from the next day on.
            return (start if op == "before" else start + timedelta(days=1)), None
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None, "must be a date (2026-12-31) or an ISO 8601 time"
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC), None


def _tags(field: str, op: str, value: Any) -> tuple[Any, str | None]:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names:
        return None, "give a tag name or a list of them"
    if len(names) > MAX_LIST:
        return None, f"give at most {MAX_LIST} tags"
    if not all(isinstance(n, str) and 0 < len(n) <= MAX_TAG and "\x00" not in n for n in names):
        return None, f"tag names are text of 1 to {MAX_TAG} characters"
    return sorted({fold(n) for n in names}), None


def _bool(field: str, op: str, value: Any) -> tuple[Any, str | None]:
    return (value, None) if isinstance(value, bool) else (None, "must be true or false")


_VALUE = {"text": _text, "number": _number, "date": _date, "tags": _tags, "bool": _bool}


def parse(tree: Any) -> Node:
    """The checked filter; raises FilterError listing every problem (at most 100) with its path."""
    checker = _Checker()
    node = checker.node(tree, "", 0)
    if checker.problems or node is None:
        raise FilterError(checker.problems or [{"path": "", "reason": "not a filter"}])
    return node


def tags_filter(names: Any, match: Any = "any") -> Any:
    """The filter tree of "has any (or all) of these tags"."""
    return {"field": "tags", "op": "has_all" if match == "all" else "has_any", "value": names}
