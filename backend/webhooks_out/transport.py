"""One webhook POST: the address checked at connect time, 5 s to connect, 15 s to read, no redirects, 1 KB kept.

`http.client` rather than requests: the connection must go to the very address the policy just checked (a
resolver answer cannot change between the check and the connect), and a single request with no redirects, no
retries and no connection pool is all a delivery needs. Raises nothing for an HTTP answer (any status is an
`Answer`); a refused address, a connect failure or a timeout is a `DeliveryFailure` with a short reason.
"""

from __future__ import annotations

import email.utils
import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from backend.webhooks_out.urls import AddressPolicy, Target, UrlRefused, parse_url

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 15.0
#: at most this much of an answer is kept.
ANSWER_LIMIT = 1024
USER_AGENT = "BulkMessenger-Webhooks/1"


class DeliveryFailure(Exception):
    """No HTTP answer: `reason` in words (refused address, refused connection, timeout, TLS)."""

    def __init__(self, reason: str, *, refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    retry_after_s: float | None


def _connect(target: Target, policy: AddressPolicy) -> socket.socket:
    try:
        addresses = policy.resolve(target.host, target.port)
    except UrlRefused as exc:
        raise DeliveryFailure(f"Refused: {exc.reason}", refused=True) from None
    last: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((str(address), target.port), timeout=CONNECT_TIMEOUT_S)
        except OSError as exc:
            last = exc
            continue
        sock.settimeout(READ_TIMEOUT_S)
        if target.scheme == "https":
            context = ssl.create_default_context()
            try:
                return context.wrap_socket(sock, server_hostname=target.host)
            except (ssl.SSLError, OSError) as exc:
                sock.close()
                raise DeliveryFailure(f"TLS failed: {exc.__class__.__name__}") from None
        return sock
    if isinstance(last, TimeoutError | socket.timeout):
        raise DeliveryFailure(f"No connection within {CONNECT_TIMEOUT_S:.0f} s")
    raise DeliveryFailure(
        "The connection was refused"
        if isinstance(last, ConnectionRefusedError)
        else "The receiver could not be reached"
    )


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection over a socket opened to an address the policy checked."""

    def __init__(self, target: Target, policy: AddressPolicy) -> None:
        super().__init__(target.host, target.port, timeout=READ_TIMEOUT_S)
        self._target = target
        self._policy = policy

    def connect(self) -> None:
        self.sock = _connect(self._target, self._policy)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def post(url: str, body: bytes, headers: dict[str, str], policy: AddressPolicy) -> tuple[Answer, int]:
    """(the answer, milliseconds taken); raises DeliveryFailure when no answer came."""
    try:
        target = parse_url(url)
    except UrlRefused as exc:
        raise DeliveryFailure(f"Refused: {exc.reason}", refused=True) from None
    started = time.monotonic()
    conn = _PinnedConnection(target, policy)
    try:
        conn.request(
            "POST",
            target.path,
            body=body,
            headers={
                **headers,
                "content-type": "application/json",
                "user-agent": USER_AGENT,
            },
        )
        response = conn.getresponse()
        raw = response.read(ANSWER_LIMIT)
        answer = Answer(
            response.status, raw.decode("utf-8", "replace"), parse_retry_after(response.getheader("Retry-After"))
        )
    except DeliveryFailure:
        raise
    except TimeoutError:
        raise DeliveryFailure(f"No answer within {READ_TIMEOUT_S:.0f} s") from None
    except (OSError, http.client.HTTPException) as exc:
        raise DeliveryFailure(f"The connection failed: {exc.__class__.__name__}") from None
    finally:
        conn.close()
    return answer, int((time.monotonic() - started) * 1000)
