"""A local HTTP server that speaks the Gmail API send path and Google's OAuth endpoints.

Real sockets, real HTTP: the app's google-api-python-client reaches it through BULKMSG_GMAIL_API_ENDPOINT, and
google-auth / the code exchange through the client config's `token_uri`. It serves
- `GET  /o/oauth2/auth` (the consent page): records the parameters and redirects (302) to `redirect_uri` with a
  fresh `code` and the `state`, as Google does after the user clicks Allow (`deny_next()`: `error=access_denied`);
- `POST /token`: `authorization_code` (checks client id and secret, redirect URI, and the PKCE code_verifier
  against the S256 challenge; a code is used once) and `refresh_token` (`revoke()` -> `invalid_grant`);
- `POST /gmail/v1/users/me/messages/send?alt=json`: checks the Bearer token (401 when unknown or expired), then
  either plays a programmed failure (`fail_next(kind)`) or accepts the message and records it decoded. A JSON
  body over 5 MB is refused with 413 as Google does ("Request payload size exceeds the limit"; the Gmail guide on
  uploads: "for larger messages use the media upload", https://developers.google.com/gmail/api/guides/uploads);
- `POST /upload/gmail/v1/users/me/messages/send?uploadType=media` (the simple media upload: the body is the
  message itself, Content-Type message/rfc822, up to the discovery document's maxSize of 35 MB): the same checks,
  recorded the same way (`uploads` counts them).
Failure kinds: rate_429 (429 + Retry-After), rate_403 (403 rateLimitExceeded), user_rate (429
userRateLimitExceeded), daily (403 dailyLimitExceeded), sending_limit (429 "Mail sending limit exceeded" with
a "Retry after" time), invalid_to (400 invalidArgument "Invalid To header"), server_500, hang (answers after
`hang_s`: the message arrives), drop (reads the request, then closes without answering: the message arrives).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakes.http import serve_in_thread, stop_server

SEND_PATH = "/gmail/v1/users/me/messages/send"
UPLOAD_PATH = "/upload/gmail/v1/users/me/messages/send"
#: Google's limit on a JSON request body, and the upload's maxSize (gmail v1 discovery document).
JSON_LIMIT = 5 * 1024 * 1024
UPLOAD_LIMIT = 36_700_160
SCOPE = "https://www.googleapis.com/auth/gmail.send"
EMAIL_SCOPE = "https://www.googleapis.com/auth/userinfo.email"  # what Google answers for the scope "email"


def id_token(client_id: str, email: str) -> str:
    """An OpenID Connect ID token shaped as Google issues it (header, payload with iss/azp/aud/sub/email/
    email_verified/at_hash/iat/exp, per developers.google.com/identity/openid-connect/openid-connect#obtainuserinfo).
    The RS256 signature is random bytes: the app reads the token straight from the token endpoint over TLS,
    where OpenID Connect Core 3.1.3.7 lets the client rely on TLS instead of the signature."""

    def part(data: Any) -> str:
        raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    now = int(time.time())
    header = {"alg": "RS256", "kid": secrets.token_hex(20), "typ": "JWT"}
    payload = {
        "iss": "https://accounts.google.com",
        "azp": client_id,
        "aud": client_id,
        "sub": str(10**20 + secrets.randbelow(10**20)),
        "email": email,
        "email_verified": True,
        "at_hash": part(secrets.token_bytes(16)),
        "iat": now,
        "exp": now + 3599,
    }
    return ".".join((part(header), part(payload), part(secrets.token_bytes(256))))


@dataclass
class SentMail:
    raw: bytes
    message: EmailMessage
    access_token: str


@dataclass
class Programmed:
    kind: str
    retry_after: int = 1


@dataclass
class FakeGoogle:
    client_id: str = "1234-fake.apps.googleusercontent.com"
    client_secret: str = "fake-client-secret"  # noqa: S105 - a test value
    access_ttl_s: int = 3599
    hang_s: float = 2.0
    sent: list[SentMail] = field(default_factory=list)
    consents: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    send_attempts: int = 0
    #: messages that came through the media upload (not as JSON `raw`).
    uploads: int = 0
    granted_scope: str = SCOPE
    #: the Google account that signs in on the consent page
    email: str = "sender@gmail.example"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, dict[str, str]] = {}
        self._refresh: dict[str, bool] = {}  # refresh token -> revoked
        self._access: dict[str, float] = {}  # access token -> expires (monotonic)
        self._failures: list[Programmed] = []
        self._deny = False
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> FakeGoogle:
        fake = self

        class Handler(_Handler):
            google = fake

        self._server = serve_in_thread(Handler, "fake-google", _QuietServer)
        return self

    def stop(self) -> None:
        stop_server(self._server)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def client_config(self, **changes: Any) -> dict[str, Any]:
        """The OAuth client JSON as Google Cloud Console gives it for a desktop app, pointing here."""
        inner = {
            "client_id": self.client_id,
            "project_id": "bulkmsg-test",
            "auth_uri": f"{self.url}/o/oauth2/auth",
            "token_uri": f"{self.url}/token",
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_secret": self.client_secret,
            "redirect_uris": ["http://localhost"],
        }
        inner.update(changes)
        return {"installed": inner}

    # -- programming --------------------------------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1, retry_after: int = 1) -> None:
        with self._lock:
            self._failures.extend(Programmed(kind, retry_after) for _ in range(times))

    def clear_failures(self) -> None:
        """Forget the programmed failures not played yet (e.g. the daily window reopened)."""
        with self._lock:
            self._failures.clear()

    def deny_next(self) -> None:
        self._deny = True

    def issue_tokens(self, access_ttl_s: int | None = None) -> dict[str, Any]:
        """Tokens as if the user had authorized already (for tests that start authorized)."""
        return self._grant(access_ttl_s)

    def revoke(self, refresh_token: str | None = None) -> None:
        """The user removed the app's access (or the refresh token expired): refreshes get invalid_grant."""
        with self._lock:
            for token in list(self._refresh):
                if refresh_token is None or token == refresh_token:
                    self._refresh[token] = True
            self._access.clear()

    def expire_access_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    # -- behaviour ----------------------------------------------------------------------------------------

    def _grant(self, access_ttl_s: int | None = None, *, with_refresh: bool = True) -> dict[str, Any]:
        ttl = self.access_ttl_s if access_ttl_s is None else access_ttl_s
        access = "ya29.fake-" + secrets.token_urlsafe(16)
        granted: dict[str, Any] = {
            "access_token": access,
            "expires_in": ttl,
            "scope": self.granted_scope,
            "token_type": "Bearer",
        }
        with self._lock:
            self._access[access] = time.monotonic() + ttl
            if with_refresh:
                granted["refresh_token"] = "1//fake-refresh-" + secrets.token_urlsafe(12)
                self._refresh[granted["refresh_token"]] = False
        return granted

    def consent(self, params: dict[str, str]) -> str:
        """Where Google sends the browser after the consent page."""
        self.consents.append(params)
        target = params["redirect_uri"]
        if self._deny:
            self._deny = False
            return f"{target}?{urlencode({'error': 'access_denied', 'state': params.get('state', '')})}"
        code = "4/fake-code-" + secrets.token_urlsafe(12)
        with self._lock:
            self._codes[code] = params
        return f"{target}?{urlencode({'code': code, 'state': params.get('state', ''), 'scope': SCOPE})}"

    def token(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        client_id, client_secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != self.client_id or client_secret != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with self._lock:
                asked = self._codes.pop(form.get("code", ""), None)
            if asked is None or asked.get("redirect_uri") != form.get("redirect_uri"):
                return 400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
            verifier = form.get("code_verifier", "")
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
            if asked.get("code_challenge_method") != "S256" or challenge != asked.get("code_challenge"):
                return 400, {"error": "invalid_grant", "error_description": "Invalid code verifier."}
            granted = self._grant()
            asked_scopes = asked.get("scope", "").split()
            if "openid" in asked_scopes:  # Google answers an ID token, and the scopes as URLs
                granted["id_token"] = id_token(self.client_id, self.email)
                granted["scope"] = " ".join(
                    ["openid", *([EMAIL_SCOPE] if "email" in asked_scopes else []), self.granted_scope]
                )
            return 200, granted
        if grant == "refresh_token":
            with self._lock:
                revoked = self._refresh.get(form.get("refresh_token", ""))
            if revoked is None or revoked:
                return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
            return 200, self._grant(with_refresh=False)
        return 400, {"error": "unsupported_grant_type"}

    def valid_access(self, token: str) -> bool:
        with self._lock:
            expires = self._access.get(token)
        return expires is not None and expires > time.monotonic()

    def next_failure(self) -> Programmed | None:
        with self._lock:
            self.send_attempts += 1
            return self._failures.pop(0) if self._failures else None

    def record(self, raw_b64: str, token: str) -> str:
        raw = base64.urlsafe_b64decode(raw_b64 + "=" * (-len(raw_b64) % 4))
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.sent.append(SentMail(raw, message, token))
        return secrets.token_hex(8)


def _error(code: int, reason: str, message: str, status: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "usageLimits" if code != 400 else "global", "reason": reason}],
            "status": status,
        }
    }


FAILURES: dict[str, tuple[int, str, str, str]] = {
    "rate_429": (429, "rateLimitExceeded", "Rate Limit Exceeded", "RESOURCE_EXHAUSTED"),
    "rate_403": (403, "rateLimitExceeded", "Rate Limit Exceeded", "PERMISSION_DENIED"),
    "user_rate": (429, "userRateLimitExceeded", "User-rate limit exceeded.", "RESOURCE_EXHAUSTED"),
    "daily": (403, "dailyLimitExceeded", "Daily Limit Exceeded", "PERMISSION_DENIED"),
    "invalid_to": (400, "invalidArgument", "Invalid To header", "INVALID_ARGUMENT"),
    "server_500": (500, "backendError", "Backend Error", "INTERNAL"),
}


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up waiting ("hang") closes its end first; that is the point, not an error.
        return


class _Handler(BaseHTTPRequestHandler):
    google: FakeGoogle
    protocol_version = "HTTP/1.1"
    # One segment per answer (headers and body together): otherwise Nagle + delayed ACK add 40 ms per request.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return

    def _answer(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        if parts.path != "/o/oauth2/auth":
            return self._answer(404, {"error": "not found"})
        location = self.google.consent(dict(parse_qsl(parts.query)))
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        body = self._body()
        if parts.path == "/token":
            basic = None
            auth = self.headers.get("Authorization", "")
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                basic = (user, password)
            status, payload = self.google.token(dict(parse_qsl(body.decode())), basic)
            return self._answer(status, payload)
        if parts.path not in (SEND_PATH, UPLOAD_PATH):
            return self._answer(404, _error(404, "notFound", "Not Found", "NOT_FOUND"))
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not self.google.valid_access(token):
            return self._answer(401, _error(401, "authError", "Invalid Credentials", "UNAUTHENTICATED"))
        if parts.path == UPLOAD_PATH:
            query = dict(parse_qsl(parts.query))
            if query.get("uploadType") != "media" or not self.headers.get("Content-Type", "").startswith("message/"):
                return self._answer(400, _error(400, "badRequest", "Media type not supported", "INVALID_ARGUMENT"))
            if len(body) > UPLOAD_LIMIT:
                return self._answer(413, _error(413, "uploadTooLarge", "Media larger than 35 MB", "INVALID_ARGUMENT"))
            raw = base64.urlsafe_b64encode(body).decode("ascii")
            self.google.uploads += 1
        elif len(body) > JSON_LIMIT:
            return self._answer(
                413, _error(413, "badRequest", "Request payload size exceeds the limit", "INVALID_ARGUMENT")
            )
        else:
            raw = json.loads(body or b"{}").get("raw", "")
        programmed = self.google.next_failure()
        if programmed is None:
            return self._answer(200, {"id": self.google.record(raw, token), "threadId": "t1", "labelIds": ["SENT"]})
        kind = programmed.kind
        if kind == "hang":
            message_id = self.google.record(raw, token)
            time.sleep(self.google.hang_s)
            return self._answer(200, {"id": message_id, "labelIds": ["SENT"]})
        if kind == "drop":
            self.google.record(raw, token)
            self.close_connection = True
            return None
        if kind == "sending_limit":
            reopens = (datetime.now(UTC) + timedelta(hours=7)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            message = f"Mail sending limit exceeded. Retry after {reopens}"
            return self._answer(429, _error(429, "rateLimitExceeded", message, "RESOURCE_EXHAUSTED"))
        code, reason, message, status = FAILURES[kind]
        headers = {"Retry-After": str(programmed.retry_after)} if code in (429, 500) else {}
        return self._answer(code, _error(code, reason, message, status), headers)
