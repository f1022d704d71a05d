"""The OAuth client JSON that Google Cloud Console gives for a desktop-app (or web) client, checked.

Contract:
- `parse_client_config(raw, stored_secret)` accepts the JSON as an object or as the pasted text and returns
  (`plain`, `client_secret`): `plain` is the config without its secret (safe to store and show), the secret is
  stored encrypted. A config whose secret is missing or `****` keeps `stored_secret`. Raises SettingsError listing
  each problem (field `client_config.<key>`).
- `ClientConfig.from_settings(plain, secret)` rebuilds the full config for google-auth-oauthlib's Flow and
  google-auth's Credentials.
- Endpoints must be https; plain http is accepted only for loopback hosts (a local test server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from backend.channels.base import SettingsError
from backend.security.hardening import loads_bounded
from backend.security.masking import MASK

CLIENT_TYPES = ("installed", "web")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
DEFAULT_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret

#: the loopback redirect the OAuth flow registers with Google (DESIGN section 9).
CALLBACK_PATH = "/oauth/gmail/callback"


@dataclass(frozen=True)
class ClientConfig:
    client_type: str  # "installed" or "web"
    client_id: str
    client_secret: str
    auth_uri: str
    token_uri: str

    @classmethod
    def from_settings(cls, plain: dict[str, Any], secret: str) -> ClientConfig:
        client_type = next(key for key in CLIENT_TYPES if key in plain)
        inner = plain[client_type]
        return cls(
            client_type=client_type,
            client_id=inner["client_id"],
            client_secret=secret,
            auth_uri=inner.get("auth_uri") or DEFAULT_AUTH_URI,
            token_uri=inner.get("token_uri") or DEFAULT_TOKEN_URI,
        )

    def for_flow(self) -> dict[str, Any]:
        """The Google `client secrets` format that google-auth-oauthlib's Flow reads."""
        return {
            self.client_type: {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "auth_uri": self.auth_uri,
                "token_uri": self.token_uri,
            }
        }


def parse_client_config(raw: Any, stored_secret: str | None = None) -> tuple[dict[str, Any], str]:
    """Check the OAuth client JSON; return (config without its secret, the secret). Raises SettingsError."""
    problems: list[dict[str, str]] = []
    if isinstance(raw, str):
        try:
            raw = loads_bounded(raw)
        except (ValueError, RecursionError):
            raise _error("client_config", "is not valid JSON; paste the whole file you downloaded") from None
    if not isinstance(raw, dict):
        raise _error("client_config", "must be the OAuth client JSON downloaded from Google Cloud Console")
    client_type = next((key for key in CLIENT_TYPES if isinstance(raw.get(key), dict)), None)
    if client_type is None:
        raise _error(
            "client_config",
            'has no "installed" section; create an OAuth client of type "Desktop app" and download its JSON',
        )
    inner: dict[str, Any] = raw[client_type]
    client_id = inner.get("client_id")
    if not isinstance(client_id, str) or not client_id.strip():
        problems.append({"field": f"client_config.{client_type}.client_id", "reason": "is missing"})
    secret = inner.get("client_secret")
    if not isinstance(secret, str) or not secret.strip() or secret == MASK:
        secret = stored_secret
    if not secret:
        problems.append({"field": f"client_config.{client_type}.client_secret", "reason": "is missing"})
    uris: dict[str, str] = {}
    for key, default in (("auth_uri", DEFAULT_AUTH_URI), ("token_uri", DEFAULT_TOKEN_URI)):
        value = inner.get(key, default)
        reason = _url_problem(value)
        if reason:
            problems.append({"field": f"client_config.{client_type}.{key}", "reason": reason})
        else:
            uris[key] = str(value).strip()
    if problems:
        raise SettingsError("The OAuth client JSON is not usable: " + _sentence(problems), problems)
    assert isinstance(client_id, str) and secret is not None
    plain = {client_type: {"client_id": client_id.strip(), **uris}}
    return plain, secret.strip()


def _url_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "is missing"
    parts = urlsplit(value.strip())
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return None
    return "must be an https:// URL"


def _error(field: str, reason: str) -> SettingsError:
    return SettingsError(f"The OAuth client JSON {reason}.", [{"field": field, "reason": reason}])


def _sentence(problems: list[dict[str, str]]) -> str:
    return "; ".join(f"{p['field'].rsplit('.', 1)[-1]} {p['reason']}" for p in problems) + "."
