"""Gmail OAuth tokens: how they are stored (encrypted secrets, scope "gmail") and refreshed with google-auth.

Contract:
- `GmailTokens.from_secrets(secrets)` / `.to_secrets()` map the tokens to the channel's secrets
  (`refresh_token`, `access_token`, `token_expiry`, `token_client_id`); tokens issued to another OAuth client
  than the configured one do not count (`usable_for(client_id)`).
- `refresh(config, tokens)` returns new tokens from the client config's token_uri (timeout REFRESH_TIMEOUT_S per
  attempt, REFRESH_BUDGET_S in all).
  Raises AuthRevoked when Google answers `invalid_grant` (refresh token revoked or expired) or the client itself
  is refused (`invalid_client`, `unauthorized_client`): only a new authorization helps. Raises RefreshFailed for
  anything that may pass later (network, 5xx). Neither carries a token in its text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from google.auth import exceptions as auth_exceptions
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2.credentials import Credentials

from backend.channels.gmail.client_config import ClientConfig

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/gmail.send"
REFRESH_TIMEOUT_S = 10.0
#: google-auth itself tries the token endpoint up to 3 times (with a short backoff) on 5xx / 429 / timeouts.
REFRESH_BUDGET_S = 3 * REFRESH_TIMEOUT_S + 5.0
#: refresh this long before the access token expires, so a send never starts with a token about to lapse.
REFRESH_MARGIN = timedelta(minutes=5)
#: token endpoint errors that no retry will cure: the user must authorize again.
AUTH_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})
REVOKED_TEXT = "Gmail access was revoked or has expired: click Authorize to connect Gmail again"
CLIENT_REFUSED_TEXT = (
    "Google refused the OAuth client (deleted, or a wrong client secret): upload the client JSON again and authorize"
)


class AuthRevoked(Exception):
    """The refresh token no longer works; `reason` is the sentence to show."""

    def __init__(self, reason: str = REVOKED_TEXT) -> None:
        super().__init__(reason)
        self.reason = reason


class RefreshFailed(Exception):
    """The token endpoint could not be used right now (network, 5xx); try again later."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class GmailTokens:
    refresh_token: str | None = None
    access_token: str | None = None
    expiry: datetime | None = None  # aware UTC
    client_id: str | None = None
    #: the authorized account's address, from the ID token at authorization (None: authorized before openid)
    address: str | None = None

    @classmethod
    def from_secrets(cls, secrets: dict[str, str]) -> GmailTokens:
        expiry = None
        if secrets.get("token_expiry"):
            try:
                expiry = datetime.fromisoformat(secrets["token_expiry"]).astimezone(UTC)
            except ValueError:
                log.warning("stored Gmail token expiry is unreadable; the token will be refreshed")
        return cls(
            refresh_token=secrets.get("refresh_token") or None,
            access_token=secrets.get("access_token") or None,
            expiry=expiry,
            client_id=secrets.get("token_client_id") or None,
            address=secrets.get("authorized_address") or None,
        )

    def to_secrets(self) -> dict[str, str | None]:
        return {
            "refresh_token": self.refresh_token,
            "access_token": self.access_token,
            "token_expiry": self.expiry.isoformat() if self.expiry else None,
            "token_client_id": self.client_id,
            "authorized_address": self.address,
        }

    def usable_for(self, client_id: str) -> bool:
        """True when there is a refresh token issued to this OAuth client."""
        return bool(self.refresh_token) and (self.client_id is None or self.client_id == client_id)

    def needs_refresh(self, now: datetime) -> bool:
        if not self.access_token or self.expiry is None:
            return True
        return self.expiry - now <= REFRESH_MARGIN


class _TimedRequest(GoogleAuthRequest):
    """google-auth's requests transport with our timeout on every call (its default is 120 s)."""

    def __call__(
        self,
        url: Any,
        method: Any = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = REFRESH_TIMEOUT_S,
        **kwargs: Any,
    ) -> Any:
        return super().__call__(url, method=method, body=body, headers=headers, timeout=REFRESH_TIMEOUT_S, **kwargs)


def token_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


#: why a token refresh failed, whether the sign-in service refused or could not be reached.
RENEW_FAILED_TEXT = "Google's sign-in service did not renew the access token just now"


def credentials_for(config: ClientConfig, tokens: GmailTokens) -> Credentials:
    expiry = tokens.expiry.astimezone(UTC).replace(tzinfo=None) if tokens.expiry else None
    return Credentials(
        token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        token_uri=config.token_uri,
        client_id=config.client_id,
        client_secret=config.client_secret,
        scopes=[SCOPE],
        expiry=expiry,
    )


def refresh(config: ClientConfig, tokens: GmailTokens, session: requests.Session | None = None) -> GmailTokens:
    """A fresh access token (and the refresh token Google may have rotated). Raises AuthRevoked, RefreshFailed."""
    if not tokens.refresh_token:
        raise AuthRevoked("Gmail is not authorized yet: click Authorize to connect Gmail")
    credentials = credentials_for(config, tokens)
    own_session = session is None
    session = session or token_session()
    try:
        credentials.refresh(_TimedRequest(session))
    except auth_exceptions.RefreshError as exc:
        code = _oauth_error(exc)
        if code == "invalid_client":
            log.warning("Gmail token refresh refused (invalid_client): the OAuth client must be replaced")
            raise AuthRevoked(CLIENT_REFUSED_TEXT) from None
        if code in AUTH_ERRORS:
            log.warning("Gmail token refresh refused (%s): the user must authorize again", code)
            raise AuthRevoked() from None
        log.warning("Gmail token refresh failed (%s)", code or "no error code")
        raise RefreshFailed(RENEW_FAILED_TEXT) from None
    except auth_exceptions.TransportError:
        # The same sentence as a refusal: the token URI is part of the client config a user gives, so the
        # answer must not tell a closed port from a service that answered.
        log.warning("Gmail token refresh failed: the token URI could not be reached")
        raise RefreshFailed(RENEW_FAILED_TEXT) from None
    finally:
        if own_session:
            session.close()
    expiry = credentials.expiry.replace(tzinfo=UTC) if credentials.expiry else None
    return replace(
        tokens,
        access_token=credentials.token,
        refresh_token=credentials.refresh_token or tokens.refresh_token,
        expiry=expiry,
        client_id=config.client_id,
    )


def _oauth_error(exc: auth_exceptions.RefreshError) -> str | None:
    """The OAuth `error` code of a refused refresh (google-auth puts the response body in args[1])."""
    data = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    text = str(exc.args[0]) if exc.args else ""
    code = text.split(":", 1)[0].strip()
    return code if code in AUTH_ERRORS else None
