"""The fields of a campaign request that are checked on their own: when (`scheduled_at`), how fast (`rate`, with
`batch`) and the variation seed. Each raises a 400 naming the field (DESIGN sections 9 and 15)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from backend.errors import bad_request
from backend.store.models import utcnow

#: largest `variation_seed` (it fits every database's INTEGER).
MAX_SEED = 2**31 - 1
RATE_LIMITS = {
    "per_minute": (0.01, 100_000.0),
    "min_delay_s": (0.0, 3600.0),
    "max_delay_s": (0.0, 3600.0),
    "daily_cap": (1, 10_000_000),
    "max_consecutive_errors": (1, 100_000),
}


#: the range a scheduled time may have: anything earlier is a typo, anything later overflows date arithmetic.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_AHEAD = timedelta(days=10 * 365)


def parse_time(value: Any, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise bad_request(f"`{field}` must be an ISO 8601 time.", [{"field": field, "reason": "not a time"}])
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad_request(f"`{field}` must be an ISO 8601 time.", [{"field": field, "reason": "not a time"}]) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)  # year 9999 at -23:59 is past the last datetime: OverflowError
    except OverflowError:
        parsed = datetime.max.replace(tzinfo=UTC)
    if not EARLIEST_TIME <= parsed <= utcnow() + LATEST_AHEAD:
        reason = f"must be a time between {EARLIEST_TIME.year} and {LATEST_AHEAD.days // 365} years from now"
        raise bad_request(f"`{field}` {reason}.", [{"field": field, "reason": reason}])
    return parsed


def check_rate(raw: Any) -> dict[str, Any]:
    """The campaign's pace: per_minute, min_delay_s, max_delay_s, daily_cap, max_consecutive_errors."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise bad_request("`rate` must be an object.", [{"field": "rate", "reason": "not an object"}])
    problems: list[dict[str, Any]] = []
    rate: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "batch":
            problem = _batch_problem(value)
            if problem:
                problems.append({"field": "rate.batch", "reason": problem})
            elif value is not None:
                rate["batch"] = {"size": value["size"], "pause_s": value["pause_s"]}
            continue
        bounds = RATE_LIMITS.get(key)
        if bounds is None:
            problems.append({"field": f"rate.{key}", "reason": "unknown setting"})
            continue
        if value is None:
            continue
        whole = isinstance(bounds[0], int)
        ok_type = isinstance(value, int) if whole else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type or not bounds[0] <= value <= bounds[1]:
            kind = "a whole number" if whole else "a number"
            problems.append({"field": f"rate.{key}", "reason": f"must be {kind} between {bounds[0]} and {bounds[1]}"})
            continue
        rate[key] = value
    if rate.get("min_delay_s", 0) > rate.get("max_delay_s", rate.get("min_delay_s", 0)):
        problems.append({"field": "rate.max_delay_s", "reason": "must not be less than min_delay_s"})
    if problems:
        raise bad_request("The rate settings are not valid.", problems)
    return rate


def _batch_problem(value: Any) -> str | None:
    """What is wrong with `rate.batch` ({"size": 1-100,000, "pause_s": 1-86,400}), or None."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"size", "pause_s"}:
        return 'give {"size": messages, "pause_s": seconds}'
    size, pause = value["size"], value["pause_s"]
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 100_000:
        return "size must be a whole number between 1 and 100000"
    if isinstance(pause, bool) or not isinstance(pause, int | float) or not 1 <= pause <= 86_400:
        return "pause_s must be a number of seconds between 1 and 86400"
    return None


def check_variation_seed(raw: Any) -> int:
    """The campaign's `variation_seed` (0 to 2**31 - 1); a new random one when none is given."""
    if raw is None:
        return secrets.randbelow(MAX_SEED + 1)
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= MAX_SEED:
        reason = f"must be a whole number from 0 to {MAX_SEED}"
        raise bad_request(f"`variation_seed` {reason}.", [{"field": "variation_seed", "reason": reason}])
    return raw
