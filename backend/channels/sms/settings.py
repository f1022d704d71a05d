"""The SMS channel's settings, declared once (backend/channels/fields.py): the check, the form and its words.

`validate_settings(raw, current)` -> ({"account_sid", "from_number" | "messaging_service_sid", "api_base_url",
"per_minute", "concurrency", "public_url"?}, {"auth_token"}); raises SettingsError listing each problem. A form
that sends `****` or leaves the auth token out keeps the stored one. The sender is exactly one of `from_number`
(an E.164 number, or an alphanumeric sender ID of 1-11 letters, digits and spaces with at least one letter) and
`messaging_service_sid` (`MG` + 32 hex digits; Twilio then picks the number); a form naming either replaces the
stored sender. `api_base_url` and `public_url` are what the form says (left out: Twilio, and none).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import ValidationInfo, field_validator

from backend.addresses import phone_or_none
from backend.channels.fields import ChannelSettings, check, problem, setting
from backend.security.hosts import url_host_problem
from backend.security.masking import MASK

DEFAULT_API_BASE_URL = "https://api.twilio.com"
MAX_URL_LENGTH = 2000
TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
#: a Twilio-compatible provider's account id (SignalWire uses UUIDs, for example).
OTHER_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
#: an alphanumeric sender ID: 1-11 letters, digits and spaces, at least one letter (Twilio's rule).
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
#: a valid number for the hints (Twilio's documentation uses it; +1555... numbers are not valid numbers).
EXAMPLE_NUMBER = "+14155552671"
DEFAULT_PER_MINUTE = 60
MAX_PER_MINUTE = 100_000
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 20
SENDER_KEYS = ("from_number", "messaging_service_sid")
CHECK_TWILIO = "Check the Twilio Account SID, auth token and sending number."
URL_REASON = "must be an http:// or https:// URL"


class SmsSettings(ChannelSettings):
    intro: ClassVar[str] = "Sends text messages through Twilio, or any provider that speaks the same API."

    account_sid: str = setting(
        label="Account SID",
        placeholder="AC…",
        reason="must be AC followed by 32 hex digits",
        missing="required: the Account SID from the Twilio console (AC followed by 32 hex digits)",
        fix=CHECK_TWILIO,
    )
    auth_token: str = setting(
        label="Auth token",
        secret=True,
        autocomplete="new-password",
        reason="must be one word of at most 128 plain (ASCII) characters",
        missing="required: the Auth Token from the Twilio console",
        fix=CHECK_TWILIO,
    )
    from_number: str | None = setting(
        None,
        label="Sending number",
        placeholder=EXAMPLE_NUMBER,
        help="Your Twilio number, or an alphanumeric sender ID (not accepted in the US and Canada). "
        "Leave it empty to use a Messaging Service.",
        reason=f"must be a phone number in E.164 form like {EXAMPLE_NUMBER}, or an alphanumeric sender ID of 1 to "
        "11 letters, digits and spaces with at least one letter",
        fix="Give the number in E.164 form with its country code, as the Twilio console shows it.",
        validate_default=True,
    )
    messaging_service_sid: str | None = setting(
        None,
        label="Messaging Service SID",
        placeholder="MG…",
        help="Instead of a sending number: Twilio then picks the number.",
        reason="must be MG followed by 32 hex digits, as the Twilio console shows it",
        fix="Copy the SID from Messaging → Services in the Twilio console, or leave it empty.",
    )
    per_minute: float = setting(
        DEFAULT_PER_MINUTE,
        label="Messages per minute",
        widget="number",
        placeholder=str(DEFAULT_PER_MINUTE),
        help="One long code sends about 60 a minute; a short code, toll-free number or Messaging Service allows more.",
        reason=f"must be a number of messages a minute above 0 (at most {MAX_PER_MINUTE:,}; default 60)",
        gt=0,
        le=MAX_PER_MINUTE,
    )
    concurrency: int = setting(
        DEFAULT_CONCURRENCY,
        label="Requests at once",
        widget="number",
        placeholder=str(DEFAULT_CONCURRENCY),
        reason=f"must be a whole number from 1 to {MAX_CONCURRENCY} (default 4)",
        ge=1,
        le=MAX_CONCURRENCY,
    )
    api_base_url: str | None = setting(
        None,
        label="API base URL",
        widget="url",
        placeholder=DEFAULT_API_BASE_URL,
        help="Change only for a Twilio-compatible provider.",
        reason=URL_REASON,
        fix="Leave it empty for Twilio, or give the provider's https:// address.",
    )
    public_url: str | None = setting(
        None,
        label="Public URL",
        widget="url",
        in_form=False,  # the app-wide one is under Settings
        help="Where Twilio reaches this app with delivery reports (the one under Settings when left empty).",
        reason=URL_REASON,
        fix="Give the https:// address this app is reached at from the internet, or leave it empty.",
    )

    @field_validator("account_sid", mode="before")
    @classmethod
    def _account_sid(cls, value: Any, info: ValidationInfo) -> str:
        if not isinstance(value, str) or not value.strip():
            raise problem("missing", str(_extra_of(cls, "account_sid")["missing"]))
        sid = value.strip()
        if urlsplit(_base_url(info.context)).hostname == "api.twilio.com":
            if not TWILIO_SID.match(sid):
                raise problem("pattern_mismatch", "must be AC followed by 32 hex digits")
        elif not OTHER_SID.match(sid):
            raise problem("pattern_mismatch", "must be at most 64 letters, digits, - or _")
        return sid

    @field_validator("auth_token", mode="before")
    @classmethod
    def _auth_token(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise problem("missing", str(_extra_of(cls, "auth_token")["missing"]))
        token = value.strip()
        if len(token) > 128 or not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
            raise problem("token_format", str(_extra_of(cls, "auth_token")["reason"]))
        return token

    @field_validator("from_number", mode="before")
    @classmethod
    def _from_number(cls, value: Any, info: ValidationInfo) -> str | None:
        service = _sender(info.context)["messaging_service_sid"]
        if value is None and service is None:
            raise problem(
                "missing",
                f"required: your Twilio number in E.164 form like {EXAMPLE_NUMBER}, an alphanumeric sender ID, "
                "or a messaging_service_sid instead",
            )
        if value is None or service is not None:
            return None  # both given: the messaging_service_sid's problem
        sender = sender_setting(value)
        if sender is None:
            raise problem("sender_format", str(_extra_of(cls, "from_number")["reason"]))
        return sender

    @field_validator("messaging_service_sid", mode="before")
    @classmethod
    def _service_sid(cls, value: Any, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if _sender(info.context)["from_number"] is not None:
            raise problem(
                "sender_conflict",
                "give either from_number or messaging_service_sid, not both (Twilio picks the number of a service)",
            )
        if not isinstance(value, str) or not MESSAGING_SERVICE_SID.match(value.strip()):
            raise problem("pattern_mismatch", str(_extra_of(cls, "messaging_service_sid")["reason"]))
        return value.strip()

    @field_validator("per_minute", "concurrency", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise problem("number_type", "")  # the field's own sentence replaces the empty one below
        return value.strip() if isinstance(value, str) else value

    @field_validator("api_base_url", "public_url", mode="before")
    @classmethod
    def _url(cls, value: Any) -> str | None:
        return url_setting(value)


def validate_settings(raw: dict[str, Any], current: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, str]]:
    """See the module. Raises SettingsError("The SMS settings are not valid.") listing each problem."""
    values = _values(raw, current or {})
    sender = {key: values.get(key) for key in SENDER_KEYS}
    model = check(SmsSettings, values, "The SMS settings are not valid.", {"raw": raw, "sender": sender})
    settings: dict[str, Any] = {"account_sid": model.account_sid}
    settings.update({key: getattr(model, key) for key in SENDER_KEYS if getattr(model, key)})
    settings["api_base_url"] = model.api_base_url or DEFAULT_API_BASE_URL
    per_minute = float(model.per_minute)
    settings["per_minute"] = int(per_minute) if per_minute.is_integer() else per_minute
    settings["concurrency"] = model.concurrency
    if model.public_url:
        settings["public_url"] = model.public_url
    return settings, {"auth_token": model.auth_token}


def _values(raw: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """What is checked: the form's values over the stored ones, with the exceptions the module names."""
    stored = ("account_sid", "auth_token", "per_minute", "concurrency")
    values: dict[str, Any] = {key: current[key] for key in stored if key in current}
    values.update({key: value for key, value in raw.items() if not (key == "auth_token" and value in (None, MASK))})
    source = raw if any(key in raw for key in SENDER_KEYS) else current
    for key in SENDER_KEYS:
        values[key] = source.get(key) or None
    for key in ("api_base_url", "public_url"):
        values[key] = raw.get(key)
    for key in ("per_minute", "concurrency"):
        if values.get(key) is None:
            values.pop(key, None)
    return values


def _base_url(context: Any) -> str:
    """The API's base URL the account SID is checked for: the form's, when it is a usable URL, else Twilio's."""
    raw = context.get("raw", {}) if isinstance(context, dict) else {}
    try:
        return url_setting(raw.get("api_base_url")) or DEFAULT_API_BASE_URL
    except ValueError:
        return DEFAULT_API_BASE_URL


def _sender(context: Any) -> dict[str, Any]:
    sender = context.get("sender") if isinstance(context, dict) else None
    return sender if isinstance(sender, dict) else dict.fromkeys(SENDER_KEYS)


def _extra_of(model: type[ChannelSettings], key: str) -> dict[str, Any]:
    extra = model.model_fields[key].json_schema_extra
    return extra if isinstance(extra, dict) else {}


def e164(raw: str, default_country: str | None = None) -> str | None:
    """`raw` as an E.164 number (+15551234567), or None when it is not a valid phone number (backend.addresses)."""
    return phone_or_none(raw, default_country)


def sender_setting(raw: Any) -> str | None:
    """A `from_number` as stored: an E.164 number, or an alphanumeric sender ID (1-11 letters, digits and spaces
    with at least one letter); None when it is neither."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    if ALPHANUMERIC_SENDER.match(text):
        return text
    return e164(text)


def url_setting(value: Any) -> str | None:
    """A URL setting as stored (no trailing slash), None when empty; raises the problem when it is no plain
    http(s) URL of a host we may call."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        raise problem("url_type", "must be a URL")
    bad_host = url_host_problem(value)
    if bad_host:
        raise problem("url_host", f"{URL_REASON}; this one {bad_host}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise problem("url_scheme", URL_REASON)
    if parts.query or parts.fragment or parts.username or parts.password:
        raise problem("url_parts", "must be a plain URL without query, fragment or credentials")
    return value.strip().rstrip("/")
