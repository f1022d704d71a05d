"""The Gmail channel: `users.messages.send` with a raw RFC 2822 message, as the OAuth-authorized user.

Contract (DESIGN section 8, Gmail):
- Settings: `client_config` (the OAuth client JSON of a desktop-app client; its `client_secret` is stored
  encrypted), `from_name`, `from_address` (optional: the Gmail address or a verified send-as alias; without it
  Gmail writes the account's own address), `per_minute` (default 150), `daily_cap` (default 2,000; a consumer
  gmail.com account allows about 500). Tokens come from the OAuth flow (backend/api/gmail_oauth.py).
- `send(message)` checks that tokens exist, refreshes the access token before it expires, builds the message
  with the shared builder (backend/channels/email_mime.py) and posts it once: the client library's retries are
  off (`num_retries=0`) and the transport never re-sends (transport.py). Returns Gmail's message id.
  Raises SendError: transient for 429 / rate limits / 5xx / nothing sent (retry_after from Retry-After);
  pause_campaign for the daily limit (saying when the window reopens), missing or revoked authorization (and the
  channel turns `auth_failure` with the sentence to show) and account-wide refusals; permanent for an invalid
  recipient or any other refused message; uncertain when the request was written but its answer was lost.
- `verify()` renews an expiring access token when authorized (never blocks saving settings for a revoked
  authorization); `configured_state()` says which state saving should store; `connect()` renews the token (a
  real round trip) and reports `ready`, `disconnected` (not authorized) or `auth_failure`.
- Refreshed tokens are stored encrypted at once through `context.save_secrets`, compare-and-set on the refresh
  token they were renewed from, so a late renewal never undoes a newer authorization.
- Context options read: `gmail_api_endpoint` (BULKMSG_GMAIL_API_ENDPOINT), `gmail_timeouts` ({"connect_s",
  "read_s"}, for tests).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from typing import Any, ClassVar

from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from backend.channels.base import Channel, ChannelContext, OutboundMessage, RateDefaults, SendError
from backend.channels.email_mime import SMTP_POLICY, build_email, unsubscribe_header
from backend.channels.fields import secret_keys
from backend.channels.gmail import tokens as oauth_tokens
from backend.channels.gmail.client_config import ClientConfig
from backend.channels.gmail.errors import AuthRefused, classify
from backend.channels.gmail.settings import DEFAULT_SETTINGS, GmailSettings, validate_gmail_settings
from backend.channels.gmail.tokens import AuthRevoked, GmailTokens, RefreshFailed
from backend.channels.gmail.transport import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, MaybeSent, NoRetryHttp, NotSent
from backend.store import states
from backend.store.models import utcnow

log = logging.getLogger(__name__)

NOT_AUTHORIZED = "Gmail is not authorized yet: click Authorize to connect your Gmail account"
CONNECTED = "Gmail is connected"
#: when no sender address is set, the message is built for this one and its From header removed, so Gmail
#: writes the authorized account's address; it only names the Message-ID's domain.
PLACEHOLDER_SENDER = "me@gmail.com"
#: a message larger than this (RFC 5322 bytes) goes through the media upload: base64 in JSON grows it by a third,
#: and Google refuses a JSON body over about 5 MB with 413.
RAW_JSON_LIMIT = 3 * 1024 * 1024


class _Revoked(SendError):
    """The authorization is gone: the campaign pauses, the user must authorize again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, pause_campaign=True)


class GmailChannel(Channel):
    name: ClassVar[str] = "gmail"
    title: ClassVar[str] = "Gmail"
    settings_model: ClassVar[type[GmailSettings]] = GmailSettings
    secret_keys: ClassVar[frozenset[str]] = secret_keys(GmailSettings)
    max_attempts: ClassVar[int] = 5
    needs_subject: ClassVar[bool] = True
    recipient_kind: ClassVar[str] = "email"
    #: about 150 sends a minute stays under the per-user quota (250 units/s, 100 units per send).
    rate_defaults: ClassVar[RateDefaults] = RateDefaults(per_minute=150, daily_cap=2000)
    #: a send: token refresh + connect + read, each bounded (the dispatcher's lease outlasts it).
    send_timeout_s: ClassVar[float] = oauth_tokens.REFRESH_BUDGET_S + CONNECT_TIMEOUT_S + READ_TIMEOUT_S
    #: two requests in flight (DESIGN section 5), within the pace; the session, resource and tokens are shared
    #: (token renewal under the lock, one HttpRequest per send).
    default_concurrency: ClassVar[int] = 2
    provider_title: ClassVar[str] = "Gmail"

    @property
    def reports_delivery(self) -> bool:
        # The Gmail API says a message was sent, never whether it was delivered: `untracked` (DESIGN 6.7).
        return False

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str], context: ChannelContext) -> None:
        super().__init__({**DEFAULT_SETTINGS, **settings}, secrets, context)
        self.config = ClientConfig.from_settings(self.settings["client_config"], secrets.get("client_secret", ""))
        self.tokens = GmailTokens.from_secrets(secrets)
        timeouts = dict(context.options.get("gmail_timeouts") or {})
        self._http = NoRetryHttp(
            float(timeouts.get("connect_s", CONNECT_TIMEOUT_S)), float(timeouts.get("read_s", READ_TIMEOUT_S))
        )
        self._token_session = oauth_tokens.token_session()
        self._service: Any = None
        self._lock = threading.RLock()
        #: the state last reported; an authorized channel is taken to be `ready` as stored.
        self._reported: states.ChannelState | None = states.READY if self.authorized else None

    # -- settings -----------------------------------------------------------------------------------------

    @classmethod
    def validate_settings(
        cls, raw: dict[str, Any], current: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        return validate_gmail_settings(raw, current)

    def rate(self) -> RateDefaults:
        """The pace the user chose (the dispatcher's campaign hooks read it): per minute and a daily cap."""
        return RateDefaults(per_minute=float(self.settings["per_minute"]), daily_cap=int(self.settings["daily_cap"]))

    @property
    def authorized(self) -> bool:
        return self.tokens.usable_for(self.config.client_id)

    def verify(self) -> str:
        """The client config was checked by validate_settings; when authorized, renew an expiring token.

        A revoked authorization does not block saving settings: the detail says to authorize again and
        `configured_state()` is `auth_failure`. Raises SendError when Google cannot be reached.
        """
        if not self.authorized:
            return NOT_AUTHORIZED
        try:
            self._access_token(report=False)
        except _Revoked as exc:
            return exc.reason
        return CONNECTED

    def configured_state(self) -> states.ChannelState:
        """The state to store after saving settings: `ready`, `disconnected` (never authorized) or `auth_failure`."""
        if not self.authorized:
            return "disconnected"
        return "auth_failure" if self._reported == "auth_failure" else "ready"

    def connect(self) -> None:
        if not self.authorized:
            self.context.emit_status("disconnected", NOT_AUTHORIZED)
            return
        try:
            self._access_token(force=True)
        except SendError:
            if self._reported == "auth_failure":
                return  # already reported with the sentence to show
            raise
        self._reported = "ready"
        self.context.emit_status("ready", CONNECTED)

    # -- sending ------------------------------------------------------------------------------------------

    def send(self, message: OutboundMessage) -> str:
        if not self.authorized:
            self._report("disconnected", NOT_AUTHORIZED)
            raise SendError(NOT_AUTHORIZED, pause_campaign=True)
        mail = self._mail_bytes(message)
        # Google refuses a JSON `raw` body over about 5 MB (413): a message with files goes through the
        # media-upload endpoint as message/rfc822 instead (up to 35 MB there; attachments stay within 25 MB).
        upload = bool(message.attachments) or len(mail) > RAW_JSON_LIMIT
        try:
            return self._post(mail, self._access_token(), upload)
        except AuthRefused:
            # A 401 means the token was refused before anything was sent: renew it once and post again.
            log.info("Gmail refused the access token for message %s; renewing it", message.id)
        try:
            return self._post(mail, self._access_token(force=True), upload)
        except AuthRefused as exc:
            self._report("auth_failure", exc.reason)
            raise SendError(exc.reason, pause_campaign=True) from None

    def _mail_bytes(self, message: OutboundMessage) -> bytes:
        """The message as the shared builder makes it: RFC 5322 bytes (CRLF)."""
        # A typed sender address (a send-as alias) wins; else the account's own, learned at authorization.
        address = self.settings.get("from_address") or self.tokens.address
        url = message.metadata.get("unsubscribe_url")
        unsubscribe = None
        if message.sender_type == states.CAMPAIGN:
            unsubscribe = unsubscribe_header(address, url) if address else (f"<{url}>" if url else None)
        mail = build_email(
            message,
            address or PLACEHOLDER_SENDER,
            self.settings.get("from_name") or None,
            unsubscribe=unsubscribe,
            unsubscribe_one_click=bool(url),
            id_key=self.context.options.get("message_id_key"),
        )
        if not address:
            del mail["From"]
        return mail.as_bytes(policy=SMTP_POLICY)

    def _post(self, mail: bytes, access_token: str, upload: bool) -> str:
        """One `messages.send` (JSON `raw`, or the media upload); returns Gmail's id. Raises SendError or
        AuthRefused."""
        if upload:
            media = MediaIoBaseUpload(io.BytesIO(mail), mimetype="message/rfc822", resumable=False)
            request = self._messages().send(userId="me", media_body=media, media_mime_type="message/rfc822")
        else:
            raw = base64.urlsafe_b64encode(mail).decode("ascii")
            request = self._messages().send(userId="me", body={"raw": raw})
        request.headers["authorization"] = f"Bearer {access_token}"
        try:
            answer = request.execute(num_retries=0)
        except HttpError as exc:
            raise classify(exc.resp.status, dict(exc.resp), exc.content, utcnow()) from None
        except NotSent as exc:
            # Google could not be reached at all: an outage of the channel, not this message's fault.
            raise SendError(f"{exc.reason[:1].upper()}{exc.reason[1:]}; will retry", outage=True) from None
        except MaybeSent as exc:
            raise SendError(f"{exc.reason}; the mail may have been sent", uncertain=True) from None
        provider_id = str(answer.get("id") or "")
        if not provider_id:
            raise SendError("Gmail accepted the message but returned no id", uncertain=True)
        self._report("ready", CONNECTED)
        return provider_id

    def _messages(self) -> Any:
        """The `users.messages` resource, built once (googleapiclient builds resources anew on every call)."""
        with self._lock:
            if self._service is None:
                endpoint = self.context.options.get("gmail_api_endpoint")
                # `http=` instead of `credentials=`: our transport adds the bearer token and never retries.
                gmail = build_from_document(
                    _discovery(endpoint),
                    http=self._http,
                    client_options={"api_endpoint": endpoint} if endpoint else None,
                )
                self._service = gmail.users().messages()
            return self._service

    # -- tokens -------------------------------------------------------------------------------------------

    def _access_token(self, *, force: bool = False, report: bool = True) -> str:
        """A usable access token, renewed first when it expires soon (or `force`).

        Raises SendError (`_Revoked`, pause_campaign, after reporting `auth_failure`) when the authorization is
        gone, a transient SendError when the token endpoint cannot be used now.
        """
        with self._lock:
            if force or self.tokens.needs_refresh(utcnow()):
                try:
                    fresh = oauth_tokens.refresh(self.config, self.tokens, self._token_session)
                except AuthRevoked as exc:
                    if report:
                        self._report("auth_failure", exc.reason)
                    else:
                        self._reported = "auth_failure"
                    raise _Revoked(exc.reason) from None
                except RefreshFailed as exc:
                    raise SendError(f"{exc.reason}; will retry") from None
                self._keep(self.tokens.refresh_token, fresh)
                self.tokens = fresh
            assert self.tokens.access_token is not None
            return self.tokens.access_token

    def _keep(self, renewed_from: str | None, fresh: GmailTokens) -> None:
        """Store renewed tokens encrypted at once, unless the user authorized again meanwhile.

        A failed write is logged and costs nothing but one more renewal later: the refresh token stays valid.
        """
        try:
            stored = self.context.save_secrets(fresh.to_secrets(), {"refresh_token": renewed_from})
        except Exception:
            log.warning("storing renewed Gmail tokens failed; they will be renewed again later", exc_info=True)
            return
        if not stored:
            log.info("renewed Gmail tokens not stored: a newer authorization exists")

    def _report(self, state: states.ChannelState, text: str) -> None:
        """Emit `channel.status` when the state changes (not once per message)."""
        if self._reported == state:
            return
        self._reported = state
        try:
            self.context.emit_status(state, text)
        except Exception:
            # The send's own outcome matters more than its status line: never let reporting change it.
            log.exception("reporting Gmail channel state %s failed", state)

    def close(self) -> None:
        self._http.close()
        self._token_session.close()


def _discovery(endpoint: str | None) -> dict[str, Any]:
    """The Gmail v1 discovery document shipped with the client; with another endpoint (tests, a proxy) its
    `rootUrl` too, since the client builds media-upload URLs from `rootUrl`, not from the overridden endpoint."""
    document: dict[str, Any] = json.loads(get_static_doc("gmail", "v1") or "{}")
    if endpoint:
        document["rootUrl"] = endpoint.rstrip("/") + "/"
    return document
