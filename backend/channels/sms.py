"""SMS through Twilio's REST API (or a Twilio-compatible provider at `api_base_url`).

Contract (DESIGN sections 5, 6 and 8):
- `validate_settings(raw, current)` -> ({"account_sid", "from_number" | "messaging_service_sid", "api_base_url",
  "per_minute", "concurrency", "public_url"?}, {"auth_token"}); raises SettingsError listing each problem. A form
  that sends `****` or leaves the auth token out keeps the stored one. The sender is exactly one of
  `from_number` (an E.164 number, or an alphanumeric sender ID of 1-11 letters, digits and spaces with at least
  one letter) and `messaging_service_sid` (`MG` + 32 hex digits; Twilio then picks the number).
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
import re
import ssl
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

from backend.addresses import phone_or_none
from backend.channels.base import (
    Channel,
    ChannelContext,
    DeliveryReport,
    FoundSend,
    OutboundMessage,
    RateDefaults,
    SendError,
    SettingsError,
)
from backend.channels.sms_errors import DELIVERY_ERRORS, delivery_error_text, refusal
from backend.security.hosts import url_host_problem
from backend.security.masking import MASK
from backend.store.models import utcnow

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.twilio.com"
API_VERSION = "2010-04-01"
CALLBACK_PATH = "/webhooks/twilio/status"
MAX_BODY_LENGTH = 1600
MAX_URL_LENGTH = 2000
#: Twilio's error code for refused credentials (https://www.twilio.com/docs/errors/20003).
TWILIO_AUTHENTICATE = 20003
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 20.0
#: an uncertain SMS is looked up over at most this many days, pages per query, messages per page.
MAX_LOOKUP_DAYS = 3
MAX_LOOKUP_PAGES = 5
LOOKUP_PAGE_SIZE = 1000
TWILIO_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
#: a Twilio-compatible provider's account id (SignalWire uses UUIDs, for example).
OTHER_SID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: what the API shows for a stored secret; sent back unchanged, it keeps the stored one.
SETTING_KEYS = frozenset(
    {"account_sid", "auth_token", "from_number", "messaging_service_sid", "api_base_url", "public_url"}
    | {"per_minute", "concurrency"}
)
MESSAGING_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")
#: an alphanumeric sender ID: 1-11 letters, digits and spaces, at least one letter (Twilio's rule).
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
#: a valid number for the hints (Twilio's documentation uses it; +1555... numbers are not valid numbers).
EXAMPLE_NUMBER = "+14155552671"
DEFAULT_PER_MINUTE = 60
MAX_PER_MINUTE = 100_000
DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 20
FINAL_SUCCESS = frozenset({"delivered", "read"})
FINAL_FAILURE = frozenset({"failed", "undelivered", "canceled"})


def delivery_success(status: str) -> bool | None:
    """Twilio's MessageStatus as DeliveryReport.success: True / False when final, None while in flight."""
    if status in FINAL_SUCCESS:
        return True
    if status in FINAL_FAILURE:
        return False
    return None


class SmsChannel(Channel):
    name: ClassVar[str] = "sms"
    title: ClassVar[str] = "SMS (Twilio)"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"auth_token"})
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
        current = current or {}
        problems: list[dict[str, str]] = []

        def problem(name: str, reason: str) -> None:
            problems.append({"field": name, "reason": reason})

        for key in sorted(set(raw) - SETTING_KEYS):
            problem(key, "unknown setting")
        base_url = _url_setting(raw.get("api_base_url"), "api_base_url", problem) or DEFAULT_API_BASE_URL
        public_url = _url_setting(raw.get("public_url"), "public_url", problem)

        sid = raw.get("account_sid", current.get("account_sid"))
        if not isinstance(sid, str) or not sid.strip():
            problem("account_sid", "required: the Account SID from the Twilio console (AC followed by 32 hex digits)")
        else:
            sid = sid.strip()
            if urlsplit(base_url).hostname == "api.twilio.com":
                if not TWILIO_SID.match(sid):
                    problem("account_sid", "must be AC followed by 32 hex digits")
            elif not OTHER_SID.match(sid):
                problem("account_sid", "must be at most 64 letters, digits, - or _")

        token = raw.get("auth_token")
        if token is None or token == MASK:
            token = current.get("auth_token")
        if not isinstance(token, str) or not token.strip():
            problem("auth_token", "required: the Auth Token from the Twilio console")
        elif (
            len(token.strip()) > 128
            or not token.strip().isascii()
            or not token.strip().isprintable()
            or any(ch.isspace() for ch in token.strip())
        ):
            problem("auth_token", "must be one word of at most 128 plain (ASCII) characters")

        # The sender: taken from the form when it names one, else the stored one.
        source = raw if ("from_number" in raw or "messaging_service_sid" in raw) else current
        from_number = source.get("from_number") or None
        service_sid = source.get("messaging_service_sid") or None
        sender: dict[str, Any] = {}
        if from_number is not None and service_sid is not None:
            problem(
                "messaging_service_sid",
                "give either from_number or messaging_service_sid, not both (Twilio picks the number of a service)",
            )
        elif from_number is None and service_sid is None:
            problem(
                "from_number",
                f"required: your Twilio number in E.164 form like {EXAMPLE_NUMBER}, an alphanumeric sender ID, "
                "or a messaging_service_sid instead",
            )
        elif service_sid is not None:
            if not isinstance(service_sid, str) or not MESSAGING_SERVICE_SID.match(service_sid.strip()):
                problem("messaging_service_sid", "must be MG followed by 32 hex digits, as the Twilio console shows it")
            else:
                sender["messaging_service_sid"] = service_sid.strip()
        else:
            sender_id = sender_setting(from_number)
            if sender_id is None:
                problem(
                    "from_number",
                    f"must be a phone number in E.164 form like {EXAMPLE_NUMBER}, or an alphanumeric sender ID of 1 to "
                    "11 letters, digits and spaces with at least one letter",
                )
            else:
                sender["from_number"] = sender_id

        per_minute = raw.get("per_minute", current.get("per_minute", DEFAULT_PER_MINUTE))
        if isinstance(per_minute, str):
            try:
                per_minute = float(per_minute.strip())
            except ValueError:
                pass
        if (
            isinstance(per_minute, bool)
            or not isinstance(per_minute, int | float)
            or not 0 < per_minute <= MAX_PER_MINUTE
        ):
            problem(
                "per_minute",
                f"must be a number of messages a minute above 0 (at most {MAX_PER_MINUTE:,}; default 60)",
            )
        concurrency = raw.get("concurrency", current.get("concurrency", DEFAULT_CONCURRENCY))
        if (
            isinstance(concurrency, str)
            and concurrency.strip().isascii()
            and concurrency.strip().isdigit()
            and len(concurrency) < 10
        ):
            concurrency = int(concurrency)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
            problem("concurrency", f"must be a whole number from 1 to {MAX_CONCURRENCY} (default 4)")

        if problems:
            raise SettingsError("The SMS settings are not valid.", problems)
        settings: dict[str, Any] = {"account_sid": sid, **sender, "api_base_url": base_url}
        settings["per_minute"] = int(per_minute) if float(per_minute).is_integer() else float(per_minute)
        settings["concurrency"] = concurrency
        if public_url:
            settings["public_url"] = public_url
        return settings, {"auth_token": str(token).strip()}

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
            raise SendError(f"Could not reach {self.base_url}: {_network_reason(exc)}") from None
        if response.status_code == 401:
            raise SendError("Twilio did not accept the Account SID and Auth Token (401): check both in the console.")
        if response.status_code == 404:
            raise SendError(f"{self.base_url} knows no account with this Account SID (404).")
        if response.status_code != 200:
            raise SendError(f"{self.base_url} could not check the account (HTTP {response.status_code}); try again.")
        account = _json(response)
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
            if _caused_by(exc, ssl.SSLCertVerificationError):  # our trust store's verdict, not what it sent
                raise SendError(f"Could not reach {self.base_url}: its TLS certificate could not be verified") from None
            raise failed from None
        except requests.RequestException:
            raise failed from None
        answer = _json(response)
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
            raise _send_failure(exc) from None
        if response.status_code in (200, 201):
            sid = _json(response).get("sid")
            if not isinstance(sid, str) or not sid:
                raise SendError("Twilio accepted the message but did not say its SID", uncertain=True)
            return sid
        raise self._refused(response)

    def _refused(self, response: requests.Response) -> SendError:
        status = response.status_code
        body = _json(response)
        code = body.get("code")
        text = self._clean(str(body.get("message") or ""))
        if 300 <= status < 400:
            return SendError(
                f"{self.base_url} redirected the request (HTTP {status}): check api_base_url", pause_campaign=True
            )
        if status == 429 or code == 20429:
            return SendError("Twilio asked to slow down (429)", retry_after=_retry_after(response))
        if status in (502, 503, 504):
            # The provider (or its gateway) is down, not this message: an outage.
            return SendError(f"The SMS provider is unavailable (HTTP {status})", outage=True)
        if status >= 500:
            return SendError(f"Twilio had a server error (HTTP {status})", retry_after=_retry_after(response))
        return refusal(status, code if isinstance(code, int) else None, text)

    def fetch_delivery(self, provider_message_id: str, recipient: str | None = None) -> DeliveryReport | None:
        """Read the message's status back from the provider; None when it cannot be asked now."""
        try:
            response = self._http.get(
                self._url("Messages", f"{provider_message_id}.json"), timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            log.warning("polling SMS %s failed: %s", provider_message_id, _network_reason(exc))
            return None
        if response.status_code != 200:
            log.warning("polling SMS %s: the provider answered HTTP %s", provider_message_id, response.status_code)
            return None
        body = _json(response)
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
            occurred_at=_http_date(body.get("date_updated")),
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
                    log.warning("looking up an uncertain SMS failed: %s", _network_reason(exc))
                    return None
                if response.status_code != 200:
                    log.warning("looking up an uncertain SMS: the provider answered HTTP %s", response.status_code)
                    return None
                page = _json(response)
                items = page.get("messages")
                if not isinstance(items, list):
                    log.warning("looking up an uncertain SMS: the provider's answer has no message list")
                    return None
                for item in items:
                    if isinstance(item, dict) and self._is_ours(item, recipient, wanted, since):
                        sent = _http_date(item.get("date_sent")) or _http_date(item.get("date_created"))
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
        created = _http_date(item.get("date_created"))
        return created is None or created >= since

    def _clean(self, text: str) -> str:
        """A provider's text as safe to show: one line, short, and never holding the auth token."""
        token = self.secrets.get("auth_token")
        if token:
            text = text.replace(token, MASK)
        return " ".join(text.split())[:200]

    def close(self) -> None:
        self._http.close()


def e164(raw: str, default_country: str | None = None) -> str | None:
    """`raw` as an E.164 number (+15551234567), or None when it is not a valid phone number (backend.addresses)."""
    return phone_or_none(raw, default_country)


def sender_setting(raw: Any) -> str | None:
    """A `from_number` as stored: an E.164 number, or an alphanumeric sender ID (1-11 letters, digits and spaces
    with at least one letter); None when it is neither."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    if ALPHANUMERIC_SENDER.match(text):
        return text
    return e164(text)


def _url_setting(value: Any, name: str, problem: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        problem(name, "must be a URL")
        return None
    bad_host = url_host_problem(value)
    if bad_host:
        problem(name, f"must be an http:// or https:// URL; this one {bad_host}")
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem(name, "must be an http:// or https:// URL")
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        problem(name, "must be a plain URL without query, fragment or credentials")
        return None
    return value.strip().rstrip("/")


def _send_failure(exc: requests.RequestException) -> SendError:
    """Whether a failed POST may have reached the provider decides between a retry and `uncertain`."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.ProxyError):
        return SendError(f"The SMS provider could not be reached ({_network_reason(exc)})", outage=True)
    if isinstance(exc, requests.exceptions.SSLError) and _caused_by(exc, ssl.SSLCertVerificationError):
        # The certificate is checked in the handshake, before the request: nothing was sent.
        return SendError("the SMS provider's TLS certificate could not be verified")
    if isinstance(exc, requests.ConnectionError) and _before_request(exc):
        if _caused_by(exc, ConnectionRefusedError):
            return SendError("The SMS provider refused the connection", outage=True)
        return SendError(f"The SMS provider could not be reached ({_network_reason(exc)})", outage=True)
    if isinstance(exc, requests.ReadTimeout):
        return SendError("the SMS provider did not answer in time after receiving the message", uncertain=True)
    return SendError(f"the connection broke after the message was sent: {_network_reason(exc)}", uncertain=True)


def _before_request(exc: BaseException) -> bool:
    """True when the connection was never made (refused, DNS), so nothing was written."""
    return _caused_by(exc, NewConnectionError | NameResolutionError | ConnectionRefusedError)


def _caused_by(exc: BaseException, kinds: Any) -> bool:
    """Whether `exc` or an error it wraps (urllib3's `reason`, an argument, the cause) is one of `kinds`."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, kinds):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
            continue
        args = [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
        current = args[0] if args else (current.__cause__ or current.__context__)
    return False


def _network_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.ReadTimeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        if _caused_by(exc, ssl.SSLCertVerificationError):
            return "its TLS certificate could not be verified"
        return "TLS error"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or name not found" if _before_request(exc) else "connection dropped"
    return type(exc).__name__


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    when = _http_date(raw)
    if when is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())


def _http_date(raw: Any) -> datetime | None:
    """An RFC 2822 date (Twilio's `date_updated`, an HTTP `Retry-After`) as aware UTC, or None."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
