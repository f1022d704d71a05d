"""Gmail channel settings, declared once (backend/channels/fields.py; DESIGN section 9: `gmail` {`client_config`,
`from_name`, ...}).

`validate_gmail_settings(raw, current)` returns (plain settings, {"client_secret"}) or raises SettingsError
listing every problem. A form that leaves `client_config` out keeps the stored one; a config whose secret is
missing or `****` keeps the stored secret. The client JSON is a document of its own, checked by
`parse_client_config` (its problems name the part: `client_config.installed.token_uri`); the other fields by the
model.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from pydantic import field_validator

from backend.channels.base import SettingsError
from backend.channels.fields import ChannelSettings, check, field_problem, problem, setting
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
_ADDRESS = re.compile(r"^[^@\s<>\"(),;:\\\[\]]+@[^@\s<>\"(),;:\\\[\]]+\.[^@\s<>\"(),;:\\\[\]]+$")
AUTHORIZE_AGAIN = "Click Authorize with Google again; paused campaigns go on when you resume them."


class GmailSettings(ChannelSettings):
    intro: ClassVar[str] = (
        "Sends with the Gmail API from your Google account (OAuth: Google asks you to allow sending, and shares your "
        "address so that mail shows your sender name)."
    )
    unknown: ClassVar[str] = "is not a Gmail setting"

    client_config: Any = setting(
        None,
        label="OAuth client JSON",
        widget="json",
        help="Google Cloud Console → APIs & Services → Credentials → OAuth client ID (Desktop app) → Download JSON. "
        "Its secret is stored encrypted and shown as ****.",
        reason="is required: upload the OAuth client JSON",
        fix="Download the JSON of an OAuth client ID of type Desktop app from the Google Cloud Console.",
    )
    #: the client JSON's secret, stored apart from it (encrypted); the form sends it inside the JSON.
    client_secret: Any = setting(
        None, label="client secret", reason="comes with the client JSON", secret=True, in_form=False
    )
    from_name: str = setting(
        "", label="Sender name", placeholder="Acme Support", reason="must be one line of at most 200 characters"
    )
    from_address: str | None = setting(
        None,
        label="Sender address",
        widget="email",
        placeholder="you@gmail.com",
        help="Leave empty to use the authorized account.",
        reason="must be an email address like you@gmail.com",
    )
    per_minute: float = setting(
        DEFAULT_PER_MINUTE,
        label="Messages per minute",
        widget="number",
        placeholder="150",
        reason=f"must be between 0.1 and {MAX_PER_MINUTE:g}",
        ge=0.1,
        le=MAX_PER_MINUTE,
    )
    daily_cap: float = setting(
        DEFAULT_DAILY_CAP,
        label="Daily cap",
        widget="number",
        placeholder="2000",
        reason=f"must be between 1 and {MAX_DAILY_CAP:g}",
        ge=1,
        le=MAX_DAILY_CAP,
    )

    @field_validator("from_name", mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> str:
        name = "" if value is None else value
        if not isinstance(name, str) or len(name) > 200 or "\r" in name or "\n" in name:
            raise problem("one_line", "must be one line of at most 200 characters")
        return name.strip()

    @field_validator("from_address", mode="before")
    @classmethod
    def _from_address(cls, value: Any) -> str | None:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not _ADDRESS.match(value.strip()):
            raise problem("email", "must be an email address like you@gmail.com")
        return value.strip()

    @field_validator("per_minute", "daily_cap", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise problem("number_type", "must be a number")
        return value

    @field_validator("daily_cap")
    @classmethod
    def _whole(cls, value: float) -> float:
        if not float(value).is_integer():
            raise problem("whole_number", "must be a whole number")
        return value


def validate_gmail_settings(
    raw: dict[str, Any], current: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    current = current or {}
    problems: list[dict[str, str]] = []
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
    # each problem of the JSON with the code and fix of the field
    problems = [{**field_problem(GmailSettings, "client_config", "client_config", p["reason"]), **p} for p in problems]

    simple = ("from_name", "from_address", "per_minute", "daily_cap")
    values = {key: current.get(key, DEFAULT_SETTINGS[key]) for key in simple}
    values.update({key: value for key, value in raw.items() if key not in ("client_config", "client_secret")})
    for key in ("per_minute", "daily_cap"):  # none given: the default
        values[key] = DEFAULT_SETTINGS[key] if values.get(key) is None else values[key]
    try:
        model = check(GmailSettings, values, "")
    except SettingsError as exc:
        unknown = [p for p in exc.details if p["code"] == "unknown_setting"]
        problems = unknown + problems + [p for p in exc.details if p["code"] != "unknown_setting"]
        raise SettingsError("The Gmail settings are not usable: " + _sentence(problems), problems) from None
    if problems:
        raise SettingsError("The Gmail settings are not usable: " + _sentence(problems), problems)
    settings = {"client_config": plain_config, "from_name": model.from_name, "from_address": model.from_address}
    settings |= {"per_minute": float(model.per_minute), "daily_cap": int(model.daily_cap)}
    return settings, {"client_secret": secret}


def _sentence(problems: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['field']} {p['reason']}" for p in problems) + "."
