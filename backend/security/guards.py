"""Request guards: Host (DNS rebinding), Origin (cross-site), and sign-in on /api.

A request to /api is signed in by a bearer token (`Authorization: Bearer`: scripts, `bulkmsg token`, the
desktop window) or by the browser's session cookie (`bulkmsg_session`: HttpOnly, SameSite=Strict). A cookie
alone never signs a request in: it must come with the `X-Bulkmsg-CSRF` header, which another site's page
cannot add without a CORS preflight we never grant (and its Origin is refused above anyway). Either token names
a signed-in device (`sign_ins`), which must still be active; a token past half its life is renewed on use
(a new bearer token in the `X-Bulkmsg-Token` response header; a new cookie).
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g, request

from backend.config import LOOPBACK_HOSTS
from backend.errors import ApiError
from backend.security import api_keys
from backend.security.hardening import install_hardening
from backend.security.tokens import API_TOKEN_TTL_S, SESSION_TTL_S, Principal, TokenError

SESSION_COOKIE = "bulkmsg_session"
CSRF_HEADER = "X-Bulkmsg-CSRF"
RENEWED_TOKEN_HEADER = "X-Bulkmsg-Token"  # noqa: S105 - a header name, not a secret

#: /api routes reachable without a bearer token.
PUBLIC_API = frozenset({"/api/health", "/api/session"})
#: paths that providers and recipients reach through the public URL (a tunnel or proxy forwards its own Host).
#: Each authenticates every request itself (provider signatures, signed unsubscribe tokens), so the DNS-rebinding
#: guard, which protects the bearer-token API and the UI, does not apply to them.
SIGNED_PUBLIC_PREFIXES = ("/webhooks/", "/unsubscribe/", "/m/")


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
        if _api_key_request():
            return
        principal = bearer_principal() or cookie_principal(require_csrf=True)
        if principal is None:
            raise ApiError(401, "unauthorized", SIGN_IN_FIRST)
        g.principal = principal

    @app.after_request
    def _renew_sign_in(response: Response) -> Response:
        principal: Principal | None = g.get("principal")
        if principal is not None and principal.sign_in is not None:
            renew_sign_in(principal, g.get("signed_in_by", "bearer"), response)
        return response


SIGN_IN_FIRST = "Sign in first: open the link printed by `bulkmsg serve` or run `bulkmsg token`."
_EXPIRED = "Your sign-in has ended or was signed out; open a new link from `bulkmsg serve` or run `bulkmsg token`."


def _api_key_request() -> bool:
    """A request with an API key (`Authorization: Bearer bm_...`, DESIGN section 17): checked and its scope
    enforced here (401 for a wrong, revoked or expired key, 403 naming the scope); False for anything else."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not api_keys.is_api_key(token.strip()):
        return False
    key_auth = current_app.extensions["bulkmsg"].api_key_auth
    g.principal, scopes = key_auth(token.strip())
    api_keys.require_scope(scopes, request.method, request.path)
    g.api_key_scopes = scopes
    return True


def bearer_principal() -> Principal | None:
    """Who the request's bearer sign-in token names; None without one (or with a bearer credential that is not
    a JWT, left to other kinds of credential); 401 for a sign-in token that is not (or no longer) valid."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.strip().count(".") != 2:
        return None
    principal = _active(token.strip(), "api")
    if principal is None:
        raise ApiError(401, "unauthorized", _EXPIRED)
    g.signed_in_by = "bearer"
    return principal


def cookie_principal(*, require_csrf: bool) -> Principal | None:
    """Who the session cookie names, or None without a valid one. With `require_csrf`, a cookie without the
    CSRF header is refused (403): it may be another site's form riding on the browser's cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    if require_csrf and request.headers.get(CSRF_HEADER) != "1":
        raise ApiError(403, "forbidden", f"A signed-in browser request carries the {CSRF_HEADER} header.")
    principal = _active(token, "session")
    if principal is not None:
        g.signed_in_by = "cookie"
    return principal


def signed_in_principal() -> Principal | None:
    """Who is signed in on this request, without refusing anything (for public routes that say more to the
    signed-in: a page's own fetch carries the cookie; another site cannot read the answer)."""
    principal: Principal | None = g.get("principal")
    if principal is not None:
        return principal
    try:
        return bearer_principal() or cookie_principal(require_csrf=False)
    except ApiError:
        return None


def _active(token: str, kind: str) -> Principal | None:
    services = current_app.extensions["bulkmsg"]
    try:
        principal: Principal = services.signer.verify(token, kind=kind)
    except TokenError:
        return None
    if principal.sign_in is None or not services.sign_ins.active(principal.sign_in, principal.account_id):
        return None
    return principal


def renew_sign_in(principal: Principal, signed_in_by: str, response: Response) -> None:
    """The device is in use: its sign-in lives on, and a token past half its life is replaced."""
    services = current_app.extensions["bulkmsg"]
    assert principal.sign_in is not None
    services.sign_ins.touch(principal.sign_in)
    if signed_in_by == "cookie" and principal.renewal_due(SESSION_TTL_S):
        set_session_cookie(response, services.signer.issue(principal, kind="session", ttl_s=SESSION_TTL_S))
    elif signed_in_by == "bearer" and principal.renewal_due(API_TOKEN_TTL_S):
        response.headers[RENEWED_TOKEN_HEADER] = services.signer.issue(principal)


def set_session_cookie(response: Response, token: str | None) -> None:
    """Set (or with None, clear) the browser's session cookie: HttpOnly, SameSite=Strict, Secure over https."""
    response.set_cookie(
        SESSION_COOKIE,
        token or "",
        max_age=SESSION_TTL_S if token else 0,
        httponly=True,
        samesite="Strict",
        secure=request.is_secure,
        path="/",
    )


def current_principal() -> Principal:
    principal: Principal | None = g.get("principal")
    if principal is None:
        raise ApiError(401, "unauthorized", SIGN_IN_FIRST)
    return principal


def account_id() -> int:
    return current_principal().account_id
