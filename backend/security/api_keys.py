"""API keys (DESIGN section 17): `bm_` + 43 URL-safe characters, kept only as a SHA-256, with scopes.

`scope_needed(method, path)` names the scope a request needs, and `require_scope` raises 403 naming it. The
store side (`backend.accounts.authenticate`) is reached through `services.api_key_auth`, since the store sits
beside this layer and already uses it.
"""

from __future__ import annotations

import hashlib
import secrets

from backend.errors import ApiError

KEY_PREFIX = "bm_"
#: token_urlsafe(32) is 43 characters: 256 random bits.
KEY_BYTES = 32
SCOPES = ("read", "contacts", "send", "admin")
#: how much of the key lists show, to tell keys apart (`bm_` and 6 characters: 36 bits, useless for guessing).
SHOWN_PREFIX = len(KEY_PREFIX) + 6

#: paths whose every route needs `admin`, whatever the method: the keys and webhooks themselves (a read-only key
#: never learns which programs hold keys or where events go). Channels and settings are read with `read` (their
#: secrets are masked) and changed with `admin`.
ADMIN_PATHS = ("/api/api-keys", "/api/webhooks", "/api/webhook-deliveries")
CONTACT_PATHS = ("/api/contacts", "/api/tags", "/api/segments")
SEND_PATHS = ("/api/campaigns", "/api/conversations", "/api/messages", "/api/media", "/api/trigger")
#: reading routes that take a POST (a WebSocket ticket is for reading the event stream).
READ_POSTS = ("/api/ws-ticket",)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def shown_prefix(key: str) -> str:
    return key[:SHOWN_PREFIX]


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p or path.startswith(p + "/") for p in prefixes)


def scope_needed(method: str, path: str) -> str:
    """The one scope a request needs: `admin` for keys and webhooks; `read` for any other GET; `contacts` or
    `send` for writes to those families; `admin` for any other write (channels, settings, what is not named)."""
    if _under(path, ADMIN_PATHS):
        return "admin"
    if method in ("GET", "HEAD", "OPTIONS") or _under(path, READ_POSTS):
        return "read"
    if _under(path, CONTACT_PATHS):
        return "contacts"
    if _under(path, SEND_PATHS):
        return "send"
    return "admin"


def require_scope(scopes: frozenset[str], method: str, path: str) -> None:
    """Raises ApiError 403 naming the scope when `scopes` lacks the one the request needs."""
    needed = scope_needed(method, path)
    if needed not in scopes:
        raise ApiError(
            403,
            "insufficient_scope",
            f"This API key lacks the `{needed}` scope this request needs.",
            [{"field": "scope", "reason": f"needs {needed}", "scope": needed}],
        )
