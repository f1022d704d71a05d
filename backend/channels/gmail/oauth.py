"""The OAuth 2.0 flow for an installed app: consent in the browser, the loopback redirect, PKCE, tokens stored.

Contract:
- `start_authorization(services, account_id, redirect_uri)` -> Google's consent URL (google-auth-oauthlib Flow:
  scopes gmail.send + openid email, `access_type=offline`, `prompt=consent`, PKCE S256, `state`). The pending
  flow (its state nonce, PKCE code_verifier and redirect URI) is stored encrypted for the account (one at a time; a new
  authorization replaces it) and lives FLOW_TTL. Raises OAuthFailure when the channel has no client config.
- `complete_authorization(services, state, code, error)` checks `state` (account id + random nonce, compared in
  constant time, used once), exchanges the code at the client config's token_uri with the code_verifier
  (timeout EXCHANGE_TIMEOUT_S), checks that sending was granted, stores the tokens encrypted and returns the
  account id. Raises OAuthFailure with the sentence to show; nothing is stored then.
The state nonce, the code, the verifier and the tokens never appear in logs or error texts.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests
from google_auth_oauthlib.flow import Flow
from oauthlib.oauth2.rfc6749.errors import InsecureTransportError

from backend.channels.gmail.client_config import ClientConfig
from backend.channels.gmail.store import save_authorized_tokens
from backend.channels.gmail.tokens import SCOPE, GmailTokens
from backend.store.models import utcnow

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

#: gmail.send to send; `openid email` so that the token answer carries an ID token naming the account's address,
#: which `From` then carries beside the sender name (DESIGN section 8).
SCOPES = [SCOPE, "openid", "email"]
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
PENDING_SCOPE = "gmail_oauth"
PENDING_NAME = "pending"
FLOW_TTL = timedelta(minutes=15)
EXCHANGE_TIMEOUT_S = 20.0


class OAuthFailure(Exception):
    """The flow cannot go on; `message` is the sentence to show, `status` the HTTP status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def _client_config(services: Services, account_id: int) -> ClientConfig:
    settings, stored = services.channels.stored(account_id, "gmail")
    if not settings or not settings.get("client_config") or not stored.get("client_secret"):
        raise OAuthFailure("Save the Gmail settings (the OAuth client JSON) before authorizing.", status=409)
    return ClientConfig.from_settings(settings["client_config"], stored["client_secret"])


def start_authorization(services: Services, account_id: int, redirect_uri: str) -> str:
    """Google's consent URL for this account; the pending flow is remembered (see the module docstring)."""
    config = _client_config(services, account_id)
    nonce = secrets.token_urlsafe(32)
    flow = Flow.from_client_config(config.for_flow(), scopes=SCOPES, redirect_uri=redirect_uri)
    try:
        auth_url, _ = flow.authorization_url(state=f"{account_id}.{nonce}", access_type="offline", prompt="consent")
    except InsecureTransportError:
        # oauthlib accepts plain http only with OAUTHLIB_INSECURE_TRANSPORT=1 (local test servers).
        raise OAuthFailure("The OAuth client's auth_uri must be an https:// address.") from None
    pending = {
        "nonce": nonce,
        "code_verifier": flow.code_verifier,
        "redirect_uri": redirect_uri,
        "client_id": config.client_id,
        "expires": (utcnow() + FLOW_TTL).isoformat(),
    }
    with services.db.write() as session:
        services.secrets.save(session, account_id, PENDING_SCOPE, {PENDING_NAME: json.dumps(pending)})
    log.info("Gmail authorization started for account %s", account_id)
    return str(auth_url)


def complete_authorization(services: Services, state: str | None, code: str | None, error: str | None) -> int:
    """Finish the flow from the loopback redirect; returns the account id. Raises OAuthFailure."""
    account_id, pending = _take_pending(services, state)
    if error:
        raise OAuthFailure(_denied_text(error))
    if not code:
        raise OAuthFailure("Google's answer had no authorization code; click Authorize again.")
    config = _client_config(services, account_id)
    if config.client_id != pending["client_id"]:
        raise OAuthFailure("The OAuth client changed during the authorization; click Authorize again.")
    tokens = _exchange(config, code, pending["code_verifier"], pending["redirect_uri"])
    save_authorized_tokens(services, account_id, tokens)
    log.info("Gmail authorized for account %s", account_id)
    return account_id


def _take_pending(services: Services, state: str | None) -> tuple[int, dict[str, Any]]:
    """The pending flow `state` names, removed so it is used once. Raises OAuthFailure for a bad state."""
    refused = OAuthFailure(
        "This authorization link is not valid (it was already used, has expired, or did not come from this app). "
        "Click Authorize again.",
        status=403,
    )
    account_part, _, nonce = (state or "").partition(".")
    ascii_id = account_part.isascii() and account_part.isdigit() and len(account_part) <= 18
    if not ascii_id or not nonce or not nonce.isascii():
        raise refused
    account_id = int(account_part)
    with services.db.write() as session:
        raw = services.secrets.load(session, account_id, PENDING_SCOPE).get(PENDING_NAME)
        pending = json.loads(raw) if raw else None
        if pending is None or not hmac.compare_digest(str(pending.get("nonce")), nonce):
            log.warning("Gmail authorization callback with an unknown state for account %s refused", account_id)
            raise refused
        services.secrets.save(session, account_id, PENDING_SCOPE, {PENDING_NAME: None})
    if datetime.fromisoformat(str(pending["expires"])) < utcnow():
        raise OAuthFailure("The authorization took too long and expired; click Authorize again.")
    return account_id, pending


def _exchange(config: ClientConfig, code: str, code_verifier: str, redirect_uri: str) -> GmailTokens:
    """Trade the code (with the PKCE verifier) for tokens at the client's token_uri."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "code_verifier": code_verifier,
        "redirect_uri": redirect_uri,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }
    with requests.Session() as session:
        session.trust_env = False
        try:
            answer = session.post(config.token_uri, data=form, timeout=EXCHANGE_TIMEOUT_S, allow_redirects=False)
        except requests.RequestException:
            raise OAuthFailure("Google's sign-in service could not be reached; click Authorize again.") from None
    try:
        data = answer.json()
    except ValueError:
        data = {}
    if answer.status_code != 200 or not isinstance(data, dict) or not data.get("access_token"):
        code_name = str(data.get("error") or answer.status_code) if isinstance(data, dict) else answer.status_code
        log.warning("Gmail authorization code exchange refused (%s)", code_name)
        raise OAuthFailure(f"Google refused the authorization ({code_name}); click Authorize again.")
    granted = str(data.get("scope") or SCOPE).split()
    if SCOPE not in granted:
        raise OAuthFailure(
            "Sending email was not allowed. Click Authorize again and tick \u201cSend email on your behalf\u201d."
        )
    if not data.get("refresh_token"):
        raise OAuthFailure(
            "Google gave no refresh token. Remove this app at https://myaccount.google.com/permissions "
            "and click Authorize again."
        )
    expires_in = data.get("expires_in")
    expiry = utcnow() + timedelta(seconds=float(expires_in)) if isinstance(expires_in, int | float) else None
    return GmailTokens(
        refresh_token=str(data["refresh_token"]),
        access_token=str(data["access_token"]),
        expiry=expiry,
        client_id=config.client_id,
        address=authorized_address(data.get("id_token"), config.client_id),
    )


def authorized_address(token: Any, client_id: str) -> str | None:
    """The verified email address in the ID token of a token-endpoint answer, or None.

    The token came straight from the client config's token endpoint over TLS, so (OpenID Connect Core 3.1.3.7)
    its issuer, audience and claims are checked but not its signature. A token for another client, from another
    issuer, or with an unverified address gives None: `From` then holds the sender name alone, as before.
    """
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    body = token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(claims, dict) or claims.get("iss") not in GOOGLE_ISSUERS:
        return None
    audience = claims.get("aud")
    if audience != client_id and not (isinstance(audience, list) and client_id in audience):
        return None
    email = claims.get("email")
    verified = claims.get("email_verified") in (True, "true")
    if (
        not verified
        or not isinstance(email, str)
        or "@" not in email
        or len(email) > 254
        or any(c in email for c in "\r\n<>")
    ):
        return None
    return email


def _denied_text(error: str) -> str:
    if error == "access_denied":
        return "Access was not granted on Google's page, so Gmail is not connected. Click Authorize to try again."
    safe = "".join(ch for ch in error if ch.isalnum() or ch in "_-")[:60]
    return f"Google ended the authorization with an error ({safe}). Click Authorize to try again."
