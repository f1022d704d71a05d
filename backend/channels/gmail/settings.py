"""Gmail channel settings, checked strictly (DESIGN section 9: `gmail` {`client_config`, `from_name`, ...}).

`validate_gmail_settings(raw, current)` returns (plain settings, {"client_secret"}) or raises SettingsError
listing every problem. A form that leaves `client_config` out keeps the stored one; a config whose secret is
missing or `****` keeps the stored secret.
"""

from __future__ import annotations

import re
from typing import Any

from backend.channels.base import SettingsError
from backend.channels.gmail.client_config import parse_client_config

DEFAULT_PER_MINUTE = 150.0
DEFAULT_DAILY_CAP = 2000
#: Gmail's per-user quota allows about 150 sends a minute; Workspace accounts send at most 2,000 a day.
MAX_PER_MINUTE = 150.0
MAX_DAILY_CAP = 10_000
DEFAULT_SETTINGS: dict[str, Any] = {
    "from_name": "",
    "from_address": None,
    "per_minute": DEFAULT_PER_MINUTE,
    "daily_cap": DEFAULT_DAILY_CAP,
}
KNOWN = frozenset({"client_config", "client_secret", *DEFAULT_SETTINGS})
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[^@\s<>\"(),;:\\\[\]]+\.[^@\s<>\"(),;:\\\[\]]+$")


def validate_gmail_settings(
    raw: dict[str, Any], current: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    current = current or {}
    problems: list[dict[str, str]] = []
    for key in sorted(set(raw) - KNOWN):
        problems.append({"field": key, "reason": "is not a Gmail setting"})

    client_raw = raw.get("client_config", current.get("client_config"))
    plain_config: dict[str, Any] = {}
    secret = ""
    if client_raw in (None, "", {}):
        problems.append({"field": "client_config", "reason": "is required: upload the OAuth client JSON"})
    else:
        try:
            plain_config, secret = parse_client_config(client_raw, current.get("client_secret"))
        except SettingsError as exc:
            problems.extend(exc.details)

    settings: dict[str, Any] = {"client_config": plain_config}
    from_name = raw.get("from_name", current.get("from_name", ""))
    if from_name is None:
        from_name = ""
    if not isinstance(from_name, str) or len(from_name) > 200 or "\r" in from_name or "\n" in from_name:
        problems.append({"field": "from_name", "reason": "must be one line of at most 200 characters"})
    settings["from_name"] = from_name.strip() if isinstance(from_name, str) else ""

    from_address = raw.get("from_address", current.get("from_address"))
    if from_address in (None, ""):
        settings["from_address"] = None
    elif not isinstance(from_address, str) or not _ADDRESS.match(from_address.strip()):
        problems.append({"field": "from_address", "reason": "must be an email address like you@gmail.com"})
    else:
        settings["from_address"] = from_address.strip()

    settings["per_minute"] = _number(raw, current, "per_minute", DEFAULT_PER_MINUTE, 0.1, MAX_PER_MINUTE, problems)
    cap = _number(raw, current, "daily_cap", DEFAULT_DAILY_CAP, 1, MAX_DAILY_CAP, problems)
    if isinstance(cap, float) and not cap.is_integer():
        problems.append({"field": "daily_cap", "reason": "must be a whole number"})
    settings["daily_cap"] = int(cap)

    if problems:
        raise SettingsError("The Gmail settings are not usable: " + _sentence(problems), problems)
    return settings, {"client_secret": secret}


def _number(
    raw: dict[str, Any],
    current: dict[str, Any],
    key: str,
    default: float,
    low: float,
    high: float,
    problems: list[dict[str, str]],
) -> float:
    value = raw.get(key, current.get(key, default))
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append({"field": key, "reason": "must be a number"})
        return default
    if not low <= value <= high:
        problems.append({"field": key, "reason": f"must be between {low:g} and {high:g}"})
        return default
    return float(value)


def _sentence(problems: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['field']} {p['reason']}" for p in problems) + "."
