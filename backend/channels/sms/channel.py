"""SMS through Twilio's REST API (or a Twilio-compatible provider at `api_base_url`).

Contract (DESIGN sections 5, 6 and 8):
- Settings (declared in settings.py, checked there): account_sid, auth_token (secret), the sender (exactly one of
  `from_number` and `messaging_service_sid`), api_base_url, per_minute, concurrency, public_url.
- Pace: `per_minute` (default 60, one long code's rate; a short code, toll-free number or Messaging Service allows
  more) and `concurrency` (default 4): that many requests in flight at once, their starts spaced by the pace.
- `verify()` fetches the Account resource; raises SendError with a human reason (401: wrong SID or token,
  404: no such account, suspended or closed account, provider down, unreachable).
- `send(message)` POSTs one message and returns its SID. Requests are never retried automatically: a retried
  POST duplicates the SMS. Raises SendError:
  permanent for a request that will never pass (21211 invalid number, 21614 not a mobile number, 21610
  unsubscribed, 21617 body too long, any other 4xx); pause_campaign when the channel itself cannot send (bad
  credentials, suspended account, unusable From number); transient for 429 / 5xx / failures before the request
  was written (retry_after from `Retry-After`); uncertain when the request was written but no answer came
  (read timeout, connection dropped): the provider may have the message, so it is never re-sent.
- `fetch_delivery(sid)` reads the message back: success True for delivered/read, False for failed/undelivered
  (with Twilio's ErrorCode), None for queued/sending/sent/accepted; returns None when the provider cannot be
  asked right now (logged).
The auth token never appears in logs, error texts or reports.
"""

from __future__ import annotations

import logging
import ssl
from datetime import UTC, date, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from backend.channels.base import (
    Channel,
    ChannelContext,
    DeliveryReport,
    FoundSend,
    OutboundMessage,
    RateDefaults,
    SendError,
)
from backend.channels.fields import secret_keys
from backend.channels.sms.errors import DELIVERY_ERRORS, delivery_error_text, refusal
from backend.channels.sms.http import caused_by, http_date, json_of, network_reason, retry_after, send_failure
from backend.channels.sms.settings import (
    DEFAULT_API_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_PER_MINUTE,
    SmsSettings,
    validate_settings,
)
from backend.channels.sms.status import CALLBACK_PATH, delivery_success
from backend.security.masking import MASK
from backend.store.models import utcnow

log = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
MAX_BODY_LENGTH = 1600
#: Twilio's error code for refused credentials (https://www.twilio.com/docs/errors/20003).
TWILIO_AUTHENTICATE = 20003
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0
#: an uncertain SMS is looked up over at most this many days, pages per query, messages per page.
MAX_LOOKUP_DAYS = 3
MAX_LOOKUP_PAGES = 5
LOOKUP_PAGE_SIZE = 1000


class SmsChannel(Channel):
    name: ClassVar[str] = "sms"
    title: ClassVar[str] = "SMS (Twilio)"
    settings_model: ClassVar[type[SmsSettings]] = SmsSettings
    secret_keys: ClassVar[frozenset[str]] = secret_keys(SmsSettings)
    max_attempts: ClassVar[int] = 5
    max_body_length: ClassVar[int | None] = MAX_BODY_LENGTH
    recipient_kind: ClassVar[str] = "phone"
    # Twilio queues what it cannot send at once; a long code sends about one segment a second.
    rate_defaults: ClassVar[RateDefaults] = RateDefaults(per_minute=DEFAULT_PER_MINUTE)
    default_concurrency: ClassVar[int] = DEFAULT_CONCURRENCY
    provider_title: ClassVar[str] = "The SMS provider"
    #: read by the dispatcher for its lease: one send never takes longer than this.
    send_timeout_s: ClassVar[float] = CONNECT_TIMEOUT_S + READ_TIMEOUT_S

    def __init__(self, settings: dict[str, Any], secrets: dict[str, str], context: ChannelContext) -> None:
        super().__init__(settings, secrets, context)
        self.account_sid = str(settings["account_sid"])
        self.from_number = str(settings.get("from_number") or "")
        self.messaging_service_sid = str(settings.get("messaging_service_sid") or "")
        self.base_url = str(settings.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/")
        public_url = settings.get("public_url") or context.public_url
        self.status_callback = f"{str(public_url).rstrip('/')}{CALLBACK_PATH}" if public_url else None
        options = context.options
        self.timeout = (
            float(options.get("sms_connect_timeout_s", CONNECT_TIMEOUT_S)),
            float(options.get("sms_read_timeout_s", READ_TIMEOUT_S)),
        )
        self._http = requests.Session()
        self._http.auth = (self.account_sid, secrets.get("auth_token", ""))
        self._http.headers["User-Agent"] = "bulkmsg-app"
        self._http.trust_env = False
        # No automatic retries of any kind: a retried POST would send the SMS twice.
        # As many kept connections as requests in flight (the dispatcher's workers share this session).
        size = max(self.concurrency(), 1)
        no_retries = HTTPAdapter(
            max_retries=Retry(total=0, connect=0, read=0, redirect=0, status=0), pool_connections=1, pool_maxsize=size
        )
        self._http.mount("http://", no_retries)
        self._http.mount("https://", no_retries)

    # -- settings -------------------------------------------------------------------------------------------

    @classmethod
    def validate_settings(
        cls, raw: dict[str, Any], current: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, str]]:
        return validate_settings(raw, current)

    def concurrency(self) -> int:
        return int(self.settings.get("concurrency") or DEFAULT_CONCURRENCY)

    def rate(self) -> RateDefaults:
        """The pace the user chose (`per_minute`), spread over `concurrency` requests in flight."""
        return RateDefaults(per_minute=float(self.settings.get("per_minute") or DEFAULT_PER_MINUTE))

    @property
    def sender(self) -> str:
        """Who the messages come from, in words."""
        if self.messaging_service_sid:
            return f"Messaging Service {self.messaging_service_sid}"
        return self.from_number

    # -- provider calls -------------------------------------------------------------------------------------

    def _url(self, *parts: str) -> str:
        """The account's resource URL, or the one of a sub-resource (`Messages.json`, `Messages`, `SM....json`)."""
        account = f"{self.base_url}/{API_VERSION}/Accounts/{quote(self.account_sid, safe='')}"
        if not parts:
            return f"{account}.json"
        return account + "".join("/" + quote(part, safe=".") for part in parts)

    def verify(self) -> str:
        """Fetch the Account resource. Returns "Ready: ..." or raises SendError with a human reason."""
        if urlsplit(self.base_url).hostname != "api.twilio.com":
            return self._verify_elsewhere()
        try:
            response = self._http.get(self._url(), timeout=self.timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise SendError(f"Could not reach {self.base_url}: {network_reason(exc)}") from None
        if response.status_code == 401:
            raise SendError("Twilio did not accept the Account SID and Auth Token (401): check both in the console.")
        if response.status_code == 404:
            raise SendError(f"{self.base_url} knows no account with this Account SID (404).")
        if response.status_code != 200:
            raise SendError(f"{self.base_url} could not check the account (HTTP {response.status_code}); try again.")
        account = json_of(response)
        status = str(account.get("status") or "active")
        if status != "active":
            raise SendError(f"The Twilio account is {status}; it cannot send messages.")
        name = str(account.get("friendly_name") or self.account_sid)[:100]
        return f"Ready: sending from {self.sender} with account {name}"

    def _verify_elsewhere(self) -> str:
        """verify() for an `api_base_url` of the user's choosing, which may point at any service: one sentence
        for every failure (refused, unreachable, dropped, any other answer than this account's resource or
        Twilio's own 401 "Authenticate" error), so saving the settings cannot tell a closed port from one where
        something else listens, nor show what that service sent. (An untrusted TLS certificate is named: it is
        our verdict, and a provider with a private certificate needs to hear it.)"""
        failed = SendError(
            f"Could not reach a Twilio-compatible API at {self.base_url} for this Account SID and Auth Token:"
            " check all three."
        )
        try:
            response = self._http.get(self._url(), timeout=self.timeout, allow_redirects=False)
        except requests.exceptions.SSLError as exc:
            if caused_by(exc, ssl.SSLCertVerificationError):  # our trust store's verdict, not what it sent
                raise SendError(f"Could not reach {self.base_url}: its TLS certificate could not be verified") from None
            raise failed from None
        except requests.RequestException:
            raise failed from None
        answer = json_of(response)
        if response.status_code == 401 and answer.get("code") == TWILIO_AUTHENTICATE:
            raise SendError(f"{self.base_url} did not accept the Account SID and Auth Token (401): check both.")
        account = answer if response.status_code == 200 else {}
        if account.get("sid") != self.account_sid:
            raise failed
        status = str(account.get("status") or "active")
        if status != "active":
            raise SendError(f"The Twilio account is {status}; it cannot send messages.")
        name = str(account.get("friendly_name") or self.account_sid)[:100]
        return f"Ready: sending from {self.sender} with account {name}"

    def send(self, message: OutboundMessage) -> str:
        """POST the message; returns Twilio's SID. Raises SendError (see the module's contract)."""
        form: dict[str, str | list[str]] = {"To": message.recipient, "Body": message.body}
        media_urls = message.metadata.get("media_urls")
        if media_urls:
            # MMS: Twilio fetches each file from its signed link (one MediaUrl parameter per file).
            form["MediaUrl"] = [str(url) for url in media_urls]
        if self.messaging_service_sid:
            form["MessagingServiceSid"] = self.messaging_service_sid
        else:
            form["From"] = self.from_number
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        validity = message.metadata.get("validity_s")
        if isinstance(validity, int) and validity > 0:
            # The campaign's send window closes then: Twilio drops the message rather than deliver it late.
            form["ValidityPeriod"] = str(min(validity, 36_000))
        try:
            response = self._http.post(
                self._url("Messages.json"), data=form, timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise send_failure(exc) from None
        if response.status_code in (200, 201):
            sid = json_of(response).get("sid")
            if not isinstance(sid, str) or not sid:
                raise SendError("Twilio accepted the message but did not say its SID", uncertain=True)
            return sid
        raise self._refused(response)

    def _refused(self, response: requests.Response) -> SendError:
        status = response.status_code
        body = json_of(response)
        code = body.get("code")
        text = self._clean(str(body.get("message") or ""))
        if 300 <= status < 400:
            return SendError(
                f"{self.base_url} redirected the request (HTTP {status}): check api_base_url", pause_campaign=True
            )
        if status == 429 or code == 20429:
            return SendError("Twilio asked to slow down (429)", retry_after=retry_after(response))
        if status in (502, 503, 504):
            # The provider (or its gateway) is down, not this message: an outage.
            return SendError(f"The SMS provider is unavailable (HTTP {status})", outage=True)
        if status >= 500:
            return SendError(f"Twilio had a server error (HTTP {status})", retry_after=retry_after(response))
        return refusal(status, code if isinstance(code, int) else None, text)

    def fetch_delivery(self, provider_message_id: str, recipient: str | None = None) -> DeliveryReport | None:
        """Read the message's status back from the provider; None when it cannot be asked now."""
        try:
            response = self._http.get(
                self._url("Messages", f"{provider_message_id}.json"), timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            log.warning("polling SMS %s failed: %s", provider_message_id, network_reason(exc))
            return None
        if response.status_code != 200:
            log.warning("polling SMS %s: the provider answered HTTP %s", provider_message_id, response.status_code)
            return None
        body = json_of(response)
        status = str(body.get("status") or "")
        if not status:
            log.warning("polling SMS %s: the provider's answer has no status", provider_message_id)
            return None
        code = body.get("error_code")
        error_code = str(code) if code not in (None, "") else None
        # Our own words for the codes we know; otherwise the provider's short text, or the code.
        error_text = (
            DELIVERY_ERRORS.get(error_code or "")
            or self._clean(str(body.get("error_message") or ""))
            or delivery_error_text(error_code)
        )
        return DeliveryReport(
            provider="twilio",
            provider_event_id=f"{provider_message_id}:{status}",
            status=status,
            success=delivery_success(status),
            error_code=error_code,
            error_text=error_text if delivery_success(status) is False else None,
            occurred_at=http_date(body.get("date_updated")),
            payload={"MessageSid": provider_message_id, "MessageStatus": status, "ErrorCode": error_code},
        )

    can_find_sent: ClassVar[bool] = True

    def find_sent(self, recipient: str, body: str, since: datetime) -> FoundSend | None:
        """Ask Twilio whether it has our message to `recipient` created since `since` (DESIGN section 6.8).

        Twilio's List Messages resource (`GET /2010-04-01/Accounts/{sid}/Messages.json`) filtered by `To` and by
        `DateSent` (YYYY-MM-DD, UTC), once per day from `since` to today, plus the newest page for `To` alone,
        which also holds messages Twilio has not sent yet (their `date_sent` is null). A message matches when it
        is outbound, from our sender, with our body, created since `since`. Returns FoundSend(sid) when found,
        FoundSend(None) when every page was read and none matches, None when Twilio cannot be asked now.
        """
        today = utcnow().date()
        days: list[date] = []
        day = since.astimezone(UTC).date()
        while day <= today and len(days) < MAX_LOOKUP_DAYS:
            days.append(day)
            day = day.fromordinal(day.toordinal() + 1)
        queries: list[dict[str, str]] = [{"To": recipient, "PageSize": str(LOOKUP_PAGE_SIZE)}]
        queries += [{"To": recipient, "DateSent": d.isoformat(), "PageSize": str(LOOKUP_PAGE_SIZE)} for d in days]
        wanted = " ".join(body.split())
        for params in queries:
            url: str | None = self._url("Messages.json")
            pages = 0
            while url and pages < MAX_LOOKUP_PAGES:
                try:
                    response = self._http.get(url, params=params, timeout=self.timeout, allow_redirects=False)
                except requests.RequestException as exc:
                    log.warning("looking up an uncertain SMS failed: %s", network_reason(exc))
                    return None
                if response.status_code != 200:
                    log.warning("looking up an uncertain SMS: the provider answered HTTP %s", response.status_code)
                    return None
                page = json_of(response)
                items = page.get("messages")
                if not isinstance(items, list):
                    log.warning("looking up an uncertain SMS: the provider's answer has no message list")
                    return None
                for item in items:
                    if isinstance(item, dict) and self._is_ours(item, recipient, wanted, since):
                        sent = http_date(item.get("date_sent")) or http_date(item.get("date_created"))
                        return FoundSend(str(item["sid"]), sent)
                next_uri = page.get("next_page_uri")
                # next_page_uri is a path on the same host, with its own query: no params on top of it.
                url = f"{self.base_url}{next_uri}" if isinstance(next_uri, str) and next_uri.startswith("/") else None
                params = {}
                pages += 1
            if url:
                return None  # more pages than we read: cannot say "surely absent"
        return FoundSend(None)

    def _is_ours(self, item: dict[str, Any], recipient: str, body: str, since: datetime) -> bool:
        if item.get("to") != recipient or not str(item.get("direction") or "").startswith("outbound"):
            return False
        if not isinstance(item.get("sid"), str) or " ".join(str(item.get("body") or "").split()) != body:
            return False
        service = self.messaging_service_sid
        if service:
            if item.get("messaging_service_sid") != service:
                return False
        elif item.get("from") != self.from_number:
            return False
        created = http_date(item.get("date_created"))
        return created is None or created >= since

    def _clean(self, text: str) -> str:
        """A provider's text as safe to show: one line, short, and never holding the auth token."""
        token = self.secrets.get("auth_token")
        if token:
            text = text.replace(token, MASK)
        return " ".join(text.split())[:200]

    def close(self) -> None:
        self._http.close()
