"""The HTTP transport under google-api-python-client: requests, with timeouts and no retries of any kind.

Why not the library's default (httplib2): httplib2 silently re-sends a request when a kept-alive connection
answers with a bad status line, and its timeouts do not tell a connect failure (nothing sent) from a read timeout
(the mail may have left). A re-sent `messages.send` is a duplicate email, so:
- `NoRetryHttp.request` makes exactly one attempt (urllib3 `Retry(0, read=False)`), connect and read timeouts
  apply to every call, and the caller passes `num_retries=0` to `execute()`.
- Failures are raised as `NotSent` (the request never left: refused connection, DNS, connect timeout, TLS
  handshake) or `MaybeSent` (it was written but no answer came: read timeout, connection dropped).
"""

from __future__ import annotations

from typing import Any

import httplib2
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NameResolutionError, NewConnectionError
from urllib3.util.retry import Retry

CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0


class TransportFailure(Exception):
    """A request that got no HTTP answer; `reason` is a short human text (no URL, no token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotSent(TransportFailure):
    """The request never reached the server: safe to try again."""


class MaybeSent(TransportFailure):
    """The request was written but its answer was lost: the server may have acted on it."""


class NoRetryHttp:
    """An httplib2.Http look-alike (the part googleapiclient uses) over one requests.Session."""

    def __init__(self, connect_timeout_s: float = CONNECT_TIMEOUT_S, read_timeout_s: float = READ_TIMEOUT_S) -> None:
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment may see the bearer token
        adapter = HTTPAdapter(max_retries=Retry(total=0, connect=0, read=False, redirect=0, status=0))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def request(
        self,
        uri: str,
        method: str = "GET",
        body: Any = None,
        headers: dict[str, str] | None = None,
        redirections: int = 0,
        connection_type: Any = None,
    ) -> tuple[httplib2.Response, bytes]:
        """One attempt; returns (response, content) like httplib2. Raises NotSent or MaybeSent."""
        try:
            answer = self.session.request(
                method, uri, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
            )
        except requests.ConnectTimeout:
            raise NotSent("the connection to Google timed out") from None
        except requests.ReadTimeout:
            raise MaybeSent(f"Google did not answer within {self.timeout[1]:.0f} s") from None
        except requests.exceptions.SSLError:
            raise NotSent("the secure connection to Google failed") from None
        except requests.ConnectionError as exc:
            if _never_connected(exc):
                raise NotSent("Google could not be reached") from None
            raise MaybeSent("the connection to Google dropped before it answered") from None
        info = {key.lower(): value for key, value in answer.headers.items()}
        info["status"] = str(answer.status_code)
        return httplib2.Response(info), answer.content

    def close(self) -> None:
        self.session.close()


def _never_connected(exc: BaseException) -> bool:
    """True when the failure happened while connecting (refused, DNS), before any byte of the request left."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NewConnectionError | NameResolutionError | ConnectionRefusedError):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            current = reason
            continue
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        current = nested or current.__cause__ or current.__context__
    return False
