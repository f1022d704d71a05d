"""A stored secret is bound to the endpoint it was given for (DESIGN section 11).

A settings form sends secrets back as `****` ("keep the stored one"). Without this check, pointing a channel at
another host while sending `****` would make the app hand the stored SMTP password, Twilio auth token or Gmail
client secret to that host. So when an endpoint setting changes (host, port, `api_base_url`, `token_uri`, the
account: username / account_sid / client_id), the secret bound to it must be given again in the same request;
otherwise `check_secret_binding` raises a 400 naming the field. Gmail's OAuth tokens were issued by the old token
endpoint to the old client: `stale_tokens` says to drop them (a new authorization is needed).
"""

from __future__ import annotations

import json
from typing import Any

from backend.errors import bad_request
from backend.security.masking import MASK

#: per channel: secret name -> the settings it is bound to. `client_config.*.x` looks inside the OAuth client's
#: section (`installed` or `web`).
BINDINGS: dict[str, dict[str, tuple[str, ...]]] = {
    "smtp": {
        "password": ("host", "port", "username", "security"),
        "imap_password": ("imap_host", "imap_port", "imap_username", "imap_security"),
    },
    "sms": {"auth_token": ("api_base_url", "account_sid")},
    "gmail": {"client_secret": ("client_config.*.token_uri", "client_config.*.client_id")},
}
#: the Gmail secrets issued by the token endpoint; they never follow the channel to another endpoint.
GMAIL_TOKENS = ("refresh_token", "access_token", "token_expiry", "token_client_id")


def setting(settings: dict[str, Any], path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        if part == "*" and isinstance(value, dict):
            value = next((v for k, v in value.items() if k in ("installed", "web") and isinstance(v, dict)), None)
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value


def _given_secret(channel: str, raw: dict[str, Any], name: str) -> bool:
    """True when the request itself carries a new value for the secret (not missing, empty or `****`)."""
    value = raw.get(name)
    if channel == "gmail" and name == "client_secret" and not _real(value):
        config = raw.get("client_config")
        if isinstance(config, str):
            try:
                config = json.loads(config)
            except ValueError:
                return False
        value = setting({"c": config}, "c.*.client_secret") if isinstance(config, dict) else None
    return _real(value)


def _real(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip()) and value != MASK


def changed_endpoints(channel: str, stored: dict[str, Any], new: dict[str, Any], secret: str) -> list[str]:
    """The settings bound to `secret` whose value differs between the stored and the new settings."""
    return [
        path
        for path in BINDINGS.get(channel, {}).get(secret, ())
        if _norm(setting(stored, path)) != _norm(setting(new, path))
    ]


def _norm(value: Any) -> Any:
    return value.strip().rstrip("/").lower() if isinstance(value, str) else value


def check_secret_binding(
    channel: str, raw: dict[str, Any], stored_settings: dict[str, Any], stored_secrets: dict[str, str],
    new_settings: dict[str, Any],
) -> None:  # fmt: skip
    """Raise a 400 naming each secret that would be reused for an endpoint it was not given for."""
    if not stored_settings:
        return  # first configuration: every secret is new
    problems = []
    for secret in BINDINGS.get(channel, {}):
        if not stored_secrets.get(secret) or _given_secret(channel, raw, secret):
            continue
        for path in changed_endpoints(channel, stored_settings, new_settings, secret):
            field = path.replace("*.", "")
            problems.append({"field": secret, "reason": f"give it again: `{field}` changed"})
            break
    if problems:
        names = ", ".join(f"`{p['field']}`" for p in problems)
        raise bad_request(
            f"The channel now points elsewhere; type the {names} again (a stored secret is only sent where it "
            "was given for).",
            problems,
        )


def stale_tokens(channel: str, stored_settings: dict[str, Any], new_settings: dict[str, Any]) -> dict[str, None]:
    """Gmail: the stored OAuth tokens to remove when the token endpoint or the client changed."""
    if channel != "gmail" or not stored_settings:
        return {}
    if changed_endpoints(channel, stored_settings, new_settings, "client_secret"):
        return dict.fromkeys(GMAIL_TOKENS)
    return {}
