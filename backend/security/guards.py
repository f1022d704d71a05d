"""Request guards: Host (DNS rebinding), Origin (cross-site), and bearer tokens on /api."""

from __future__ import annotations

from flask import Flask, current_app, g, request

from backend.config import LOOPBACK_HOSTS
from backend.errors import ApiError
from backend.security import api_keys
from backend.security.hardening import install_hardening
from backend.security.tokens import Principal, TokenError

#: /api routes reachable without a bearer token.
PUBLIC_API = frozenset({"/api/health", "/api/session"})
#: paths that providers and recipients reach through the public URL (a tunnel or proxy forwards its own Host).
#: Each authenticates every request itself (provider signatures, signed unsubscribe tokens), so the DNS-rebinding
#: guard, which protects the bearer-token API and the UI, does not apply to them.
SIGNED_PUBLIC_PREFIXES = ("/webhooks/", "/unsubscribe/")


def host_name(host_header: str) -> str:
    """`example.com:8765` -> `example.com`; `[::1]:80` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def install_guards(app: Flask) -> None:
    install_hardening(app)
    config = app.config["BULKMSG"]
    allowed = set(LOOPBACK_HOSTS) | set(config.allowed_hosts)
    if config.host not in ("0.0.0.0", "::"):  # noqa: S104 - comparing, not binding
        allowed.add(config.host.lower())

    @app.before_request
    def _check_host_and_origin() -> None:
        name = host_name(request.host)
        if name not in allowed and not request.path.startswith(SIGNED_PUBLIC_PREFIXES):
            raise ApiError(403, "forbidden_host", f"Host {name!r} is not allowed; add it to BULKMSG_ALLOWED_HOSTS.")
        origin = request.headers.get("Origin")
        # Browsers send the page's own http(s) origin, also on the WebSocket handshake.
        if origin is not None and origin != request.host_url.rstrip("/"):
            raise ApiError(403, "forbidden_origin", "Requests from another site are not allowed.")

    @app.before_request
    def _authenticate() -> None:
        if not request.path.startswith("/api/") or request.path in PUBLIC_API:
            return
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(401, "unauthorized", _HTTP_401)
        if api_keys.is_api_key(token.strip()):
            key_auth = current_app.extensions["bulkmsg"].api_key_auth
            if key_auth is None:
                raise ApiError(401, "unauthorized", _HTTP_401)
            g.principal, scopes = key_auth(token.strip())
            api_keys.require_scope(scopes, request.method, request.path)
            g.api_key_scopes = scopes
            return
        try:
            g.principal = current_app.extensions["bulkmsg"].signer.verify(token.strip())
        except TokenError:
            raise ApiError(
                401,
                "unauthorized",
                "Your sign-in token is not valid or has expired; run `bulkmsg token` for a new one.",
            ) from None


_HTTP_401 = "Sign in first: open the link printed by `bulkmsg serve` or run `bulkmsg token`."


def current_principal() -> Principal:
    principal: Principal | None = g.get("principal")
    if principal is None:
        raise ApiError(401, "unauthorized", _HTTP_401)
    return principal


def account_id() -> int:
    return current_principal().account_id
