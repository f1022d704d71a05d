"""Signing in and out (DESIGN sections 9 and 11): the browser's session cookie, and the list of signed-in devices.

- `POST /api/session` {code} (the one-time link `bulkmsg serve` printed) starts a new browser sign-in; {token} (a
  bearer token: the desktop window's, or one pasted from `bulkmsg token`) moves that token's sign-in into the
  cookie. Either way the answer sets the `bulkmsg_session` cookie (HttpOnly, SameSite=Strict, 14 days, renewed
  while in use: the browser stays signed in across tabs and restarts) and carries {"token"} (a bearer token of
  the same sign-in, for scripts) and {"sign_in"}. 401 for a used or expired code or a token no longer valid.
- `GET /api/session` -> who is signed in on this request: {"account_id", "user", "sign_in": {id, kind, ...}}.
- `DELETE /api/session` -> signs this device out (its cookie and every token of its sign-in end): 204.
- `GET /api/sign-ins` -> the account's signed-in devices {"items": [{id, kind, label, created_at, last_used_at,
  expires_at, current}], "total"}; `DELETE /api/sign-ins/<id>` signs one out (204, 404);
  `POST /api/sign-ins/revoke-all` signs every device out, this one too ("sign out everywhere"): {"signed_out": n}.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, g, jsonify, request

from backend.errors import ApiError, bad_request, json_body, not_found
from backend.security.guards import (
    SIGN_IN_FIRST,
    bearer_principal,
    cookie_principal,
    current_principal,
    set_session_cookie,
)
from backend.security.tokens import SESSION_TTL_S, Principal, TokenError
from backend.services import Services, current_services

bp = Blueprint("sessions", __name__)
#: longest label kept for a browser sign-in (from its User-Agent).
MAX_LABEL = 120


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


@bp.post("/api/session")
def sign_in() -> Any:
    body = json_body()
    services = current_services()
    code, token = body.get("code"), body.get("token")
    if isinstance(code, str) and code:
        principal = _from_code(services, code)
    elif isinstance(token, str) and token:
        principal = _from_token(services, token.strip())
    else:
        raise bad_request("Give the one-time code from the link `bulkmsg serve` printed, or a token.")
    response = jsonify({"token": services.signer.issue(principal), "sign_in": {"id": principal.sign_in}})
    set_session_cookie(response, services.signer.issue(principal, kind="session", ttl_s=SESSION_TTL_S))
    return response


@bp.get("/api/session")
def who_is_signed_in() -> Any:
    principal = _signed_in()
    found = [s for s in current_services().sign_ins.listing(principal.account_id) if s["id"] == principal.sign_in]
    return jsonify({"account_id": principal.account_id, "user": principal.user, "sign_in": found[0] if found else None})


@bp.delete("/api/session")
def sign_out() -> Any:
    principal = _signed_in()
    if principal.sign_in is not None:
        current_services().sign_ins.revoke(principal.account_id, principal.sign_in)
    g.principal = None  # nothing to renew
    response = Response(status=204)
    set_session_cookie(response, None)
    return response


@bp.get("/api/sign-ins")
def list_sign_ins() -> Any:
    principal = current_principal()
    items = current_services().sign_ins.listing(principal.account_id)
    for item in items:
        item["current"] = item["id"] == principal.sign_in
    return jsonify({"items": items, "total": len(items)})


@bp.delete("/api/sign-ins/<sign_in_id>")
def sign_out_device(sign_in_id: str) -> Any:
    principal = current_principal()
    if len(sign_in_id) > 64 or not current_services().sign_ins.revoke(principal.account_id, sign_in_id):
        raise not_found("A signed-in device with this id")
    response = Response(status=204)
    if sign_in_id == principal.sign_in:
        g.principal = None
        set_session_cookie(response, None)
    return response


@bp.post("/api/sign-ins/revoke-all")
def sign_out_everywhere() -> Any:
    principal = current_principal()
    count = current_services().sign_ins.revoke_all(principal.account_id)
    g.principal = None
    response = jsonify({"signed_out": count})
    set_session_cookie(response, None)
    return response


def _from_code(services: Services, code: str) -> Principal:
    redeemed = services.redeem_login_code(code)
    if redeemed is None:
        raise ApiError(401, "unauthorized", "This sign-in link was already used or has expired; run `bulkmsg token`.")
    sid = services.sign_ins.start(redeemed.account_id, redeemed.user, "browser", _browser_label())
    return Principal(redeemed.account_id, redeemed.user, sid)


def _from_token(services: Services, token: str) -> Principal:
    try:
        principal = services.signer.verify(token)
    except TokenError:
        principal = None
    if principal is None or principal.sign_in is None:
        raise ApiError(
            401, "unauthorized", "This token is not valid or has expired; run `bulkmsg token` for a new one."
        )
    if not services.sign_ins.active(principal.sign_in, principal.account_id):
        raise ApiError(401, "unauthorized", "This token was signed out; run `bulkmsg token` for a new one.")
    return Principal(principal.account_id, principal.user, principal.sign_in)


def _signed_in() -> Principal:
    """/api/session is reachable signed out (to sign in): its other methods check the sign-in here."""
    principal = bearer_principal() or cookie_principal(require_csrf=True)
    if principal is None:
        raise ApiError(401, "unauthorized", SIGN_IN_FIRST)
    g.principal = principal
    return principal


def _browser_label() -> str:
    """A short name for the browser signing in ("Chrome on Linux"), from its User-Agent."""
    agent = request.headers.get("User-Agent", "")
    browsers = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
    systems = (("Windows", "Windows"), ("Mac OS", "macOS"), ("Android", "Android"), ("iPhone", "iPhone"),
               ("Linux", "Linux"))  # fmt: skip
    browser = next((name for mark, name in browsers if mark in agent), "A browser")
    system = next((name for mark, name in systems if mark in agent), "")
    return (f"{browser} on {system}" if system else browser)[:MAX_LABEL]
