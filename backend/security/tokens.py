"""Sign-in tokens and WebSocket tickets: JWT (HS256) signed with the app key, naming account, user and (sign-in
tokens) the signed-in device (`sid`, a row of `sign_ins`: backend/store/sign_ins.py).

Kinds: `api` (a bearer token: `bulkmsg token`, the desktop window; API_TOKEN_TTL_S, renewed while in use),
`session` (the browser's HttpOnly cookie; SESSION_TTL_S, renewed while in use), `ws` (a 2-minute ticket)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
WS_TICKET_TTL_S = 120
API_TOKEN_TTL_S = 12 * 3600
SESSION_TTL_S = 14 * 24 * 3600
#: a sign-in token with less than this part of its life left is renewed on its next use.
RENEW_WHEN_LEFT = 0.5


class TokenError(Exception):
    pass


@dataclass(frozen=True)
class Principal:
    account_id: int
    user: str
    #: the signed-in device (`sign_ins.id`) of a sign-in token; None for a WebSocket ticket.
    sign_in: str | None = None
    #: when the token presented expires (seconds since the epoch), 0 when unknown.
    expires: int = 0

    def renewal_due(self, ttl_s: int) -> bool:
        """True when the token presented has less than RENEW_WHEN_LEFT of its life left."""
        return self.expires - time.time() < ttl_s * RENEW_WHEN_LEFT


class TokenSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(self, principal: Principal, *, kind: str = "api", ttl_s: int = API_TOKEN_TTL_S) -> str:
        now = int(time.time())
        claims = {
            "sub": principal.user,
            "acc": principal.account_id,
            "kind": kind,
            "iat": now,
            "exp": now + ttl_s,
            "jti": secrets.token_urlsafe(8),
        }
        if principal.sign_in is not None:
            claims["sid"] = principal.sign_in
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, *, kind: str = "api") -> Principal:
        """Return who the token names; raises TokenError for anything but a valid token of `kind`."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], options={"require": ["exp", "acc", "sub", "kind"]}
            )
        except jwt.PyJWTError as exc:
            raise TokenError(str(exc)) from None
        # PyJWT verifies the HMAC with hmac.compare_digest (constant time).
        if claims.get("kind") != kind or not isinstance(claims.get("acc"), int):
            raise TokenError("wrong kind of token")
        sid = claims.get("sid")
        if kind != "ws" and not isinstance(sid, str):
            raise TokenError("a sign-in token without its device (made before sign-ins could be revoked)")
        return Principal(claims["acc"], str(claims["sub"]), sid if isinstance(sid, str) else None, int(claims["exp"]))
