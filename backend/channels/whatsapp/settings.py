"""The WhatsApp channel's settings, declared once (backend/channels/fields.py): the pace and the browser.

`validate_settings(raw, current)` -> (settings, {}): min_delay_s and max_delay_s (seconds, 0..3600, min <= max),
daily_cap (1..100000), headless (true or false); the form's values over the stored ones over the defaults.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationInfo, field_validator

from backend.channels.fields import ChannelSettings, check, problem, setting

DEFAULT_SETTINGS: dict[str, Any] = {"min_delay_s": 8.0, "max_delay_s": 20.0, "daily_cap": 200, "headless": True}
SECONDS = "must be a number of seconds between 0 and 3600"
BANNED = "Fast or bulk sending gets numbers banned."


class WhatsAppSettings(ChannelSettings):
    intro: ClassVar[str] = (
        "Sends from your own WhatsApp account through WhatsApp Web, with a pause between messages so the number is "
        "not banned."
    )

    min_delay_s: float = setting(
        DEFAULT_SETTINGS["min_delay_s"],
        label="Shortest pause (seconds)",
        widget="number",
        placeholder="8",
        reason=SECONDS,
        ge=0,
        le=3600,
    )
    max_delay_s: float = setting(
        DEFAULT_SETTINGS["max_delay_s"],
        label="Longest pause (seconds)",
        widget="number",
        placeholder="20",
        reason=SECONDS,
        ge=0,
        le=3600,
    )
    daily_cap: int = setting(
        DEFAULT_SETTINGS["daily_cap"],
        label="Daily cap",
        widget="number",
        placeholder="200",
        help=BANNED,
        reason="must be a whole number between 1 and 100000",
        ge=1,
        le=100_000,
        strict=True,
    )
    headless: bool = setting(
        DEFAULT_SETTINGS["headless"],
        label="Run Chromium without a window",
        widget="checkbox",
        reason="must be true or false",
        strict=True,
    )

    @field_validator("min_delay_s", "max_delay_s", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise problem("number_type", SECONDS)
        return value

    @field_validator("max_delay_s")
    @classmethod
    def _not_below_min(cls, value: float, info: ValidationInfo) -> float:
        shortest = info.data.get("min_delay_s")
        if shortest is not None and shortest > value:
            raise problem("less_than_min", "must not be less than min_delay_s")
        return value


def validate_settings(raw: dict[str, Any], current: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """See the module. Raises SettingsError("Invalid WhatsApp settings") listing each problem."""
    known = WhatsAppSettings.model_fields
    values = {**DEFAULT_SETTINGS, **{k: v for k, v in (current or {}).items() if k in known}, **raw}
    model = check(WhatsAppSettings, values, "Invalid WhatsApp settings")
    return model.model_dump(), {}
