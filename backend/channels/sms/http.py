"""The HTTP side of the Twilio API: what a failed request means for the message (sent or not, outage or not),
the `Retry-After` header, RFC 2822 dates and JSON bodies as Twilio writes them."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from urllib3.exceptions import NameResolutionError, NewConnectionError

from backend.channels.base import SendError
from backend.store.models import utcnow


def send_failure(exc: requests.RequestException) -> SendError:
    """Whether a failed POST may have reached the provider decides between a retry and `uncertain`."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.ProxyError):
        return SendError(f"The SMS provider could not be reached ({network_reason(exc)})", outage=True)
    if isinstance(exc, requests.exceptions.SSLError) and caused_by(exc, ssl.SSLCertVerificationError):
        # The certificate is checked in the handshake, before the request: nothing was sent.
        return SendError("the SMS provider's TLS certificate could not be verified")
    if isinstance(exc, requests.ConnectionError) and before_request(exc):
        if caused_by(exc, ConnectionRefusedError):
            return SendError("The SMS provider refused the connection", outage=True)
        return SendError(f"The SMS provider could not be reached ({network_reason(exc)})", outage=True)
    if isinstance(exc, requests.ReadTimeout):
        return SendError("the SMS provider did not answer in time after receiving the message", uncertain=True)
    return SendError(f"the connection broke after the message was sent: {network_reason(exc)}", uncertain=True)


def before_request(exc: BaseException) -> bool:
    """True when the connection was never made (refused, DNS), so nothing was written."""
    return caused_by(exc, NewConnectionError | NameResolutionError | ConnectionRefusedError)


def caused_by(exc: BaseException, kinds: Any) -> bool:
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


def network_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.ReadTimeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        if caused_by(exc, ssl.SSLCertVerificationError):
            return "its TLS certificate could not be verified"
        return "TLS error"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or name not found" if before_request(exc) else "connection dropped"
    return type(exc).__name__


def retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    when = http_date(raw)
    if when is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())


def http_date(raw: Any) -> datetime | None:
    """An RFC 2822 date (Twilio's `date_updated`, an HTTP `Retry-After`) as aware UTC, or None."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def json_of(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
