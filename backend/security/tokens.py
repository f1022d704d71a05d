"""Bearer tokens and WebSocket tickets: JWT (HS256) signed with the app key, naming account and user."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt

ALGORITHM = "HS256"
WS_TICKET_TTL_S = 120
API_TOKEN_TTL_S = 365 * 24 * 3600


class TokenError(Exception):
    pass


@dataclass(frozen=True)
class Principal:
    account_id: int
    user: str


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
        return Principal(account_id=claims["acc"], user=str(claims["sub"]))
