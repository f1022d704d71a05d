"""A local HTTP server that speaks Twilio's Messages API and sends signed status callbacks.

Real sockets, real HTTP: the app's SMS channel talks to it through `api_base_url`. It serves
- `GET  /2010-04-01/Accounts/{sid}.json` (the account),
- `POST /2010-04-01/Accounts/{sid}/Messages.json` (create: To, From, Body, StatusCallback, MediaUrl repeated once
  per file; Basic auth). As Twilio's Message resource documents MediaUrl ("The URL of media to include in the
  Message content ... Twilio fetches the media", at most 10 per message, https://www.twilio.com/docs/messaging/api/
  message-resource#create-a-message-resource), each URL is fetched with a plain GET (no credentials) and the
  bytes and Content-Type kept in `media_of(sid)`; `num_media` counts them. Twilio fetches asynchronously and fails
  the message with error 11200 when a URL cannot be read; this fake fetches before answering and refuses the
  create with 400 and code 11200 instead (a detail of timing only, not of what the app must send),
- `GET  /2010-04-01/Accounts/{sid}/Messages/{MessageSid}.json` (fetch),
- `GET  /2010-04-01/Accounts/{sid}/Messages.json?To=&From=&DateSent=&PageSize=&Page=` (list), shaped as Twilio
  documents its Message list resource ("Retrieve and Modify Message History",
  https://www.twilio.com/docs/sms/tutorials/how-to-retrieve-and-modify-message-history, and the Message
  resource's list parameters To, From, DateSent (YYYY-MM-DD, UTC; `DateSent<` on or before, `DateSent>` on or
  after), PageSize (default 50, at most 1000)): `{"messages": [...], "page", "page_size", "start", "end",
  "uri", "first_page_uri", "next_page_uri" (null on the last page), "previous_page_uri"}`, newest first;
  messages carry `date_sent` in RFC 2822 form (null until sent),
with Twilio's error shape `{"code", "message", "more_info", "status"}`. `send_inbound(url, from_, body, media=...)`
POSTs a signed incoming-message webhook as Twilio does when someone texts the number: form fields as documented
at https://www.twilio.com/docs/messaging/guides/webhook-request (MessageSid, SmsSid, SmsMessageSid, AccountSid,
From, To, Body, NumMedia, NumSegments, SmsStatus `received`, ApiVersion, the From/To geography fields, and
MediaUrl{N} / MediaContentType{N} for each MMS attachment). Per-number failures are programmable
(`fail(number, kind)`), and `deliver(sid, status)` moves a message on and POSTs the status callback signed
with the account's auth token exactly as Twilio does (base64 HMAC-SHA1 over the URL followed by each POST
parameter name and value, sorted by name). The signature is computed here independently of the app's code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode

import requests

from backend.store.models import utcnow
from tests.fakes.http import serve_in_thread, stop_server

API = "/2010-04-01/Accounts/"
ACCOUNT_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)\.json$")
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
MESSAGE_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def twilio_signature(auth_token: str, url: str, params: dict[str, str] | list[tuple[str, str]]) -> str:
    """X-Twilio-Signature for a POST to `url` with form `params` (Twilio's documented algorithm)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    data = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Failure:
    """A programmed failure for one To number; `times` None means every time."""

    #: invalid | not_mobile | unsubscribed | rate_limited | server_error | slow (stored, answered late) | lost
    #: (never stored, answered late: the request never reached Twilio's records)
    kind: str
    retry_after: int = 1
    delay_s: float = 2.0
    times: int | None = None


@dataclass
class Received:
    method: str
    path: str
    form: dict[str, str]
    authorized: bool


@dataclass
class Callback:
    url: str
    params: dict[str, str]
    signature: str
    status_code: int | None
    latency_s: float


@dataclass
class FakeTwilio:
    account_sid: str = field(default_factory=lambda: new_sid("AC"))
    auth_token: str = field(default_factory=lambda: secrets.token_hex(16))
    friendly_name: str = "Fake Twilio"
    account_status: str = "active"
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    callbacks: list[Callback] = field(default_factory=list)
    failures: dict[str, Failure] = field(default_factory=dict)
    #: every request waits this long before its answer (a provider that far away; requests run in parallel).
    request_delay_s: float = 0.0
    #: the most requests that were being answered at the same time.
    max_in_flight: int = 0
    _in_flight: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._callback_http = requests.Session()
        self._callback_http.trust_env = False

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(_Handler):
            twilio = fake

        self._server = serve_in_thread(Handler, "fake-twilio")
        return self

    def stop(self) -> None:
        stop_server(self._server)
        self._server = None
        self._callback_http.close()

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_port}"

    def settings(self, **changes: Any) -> dict[str, Any]:
        """SMS channel settings that point at this fake."""
        return {
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "from_number": "+15005550006",
            "api_base_url": self.url,
            **changes,
        }

    # -- programming ------------------------------------------------------------------------------------------

    def fail(self, number: str, kind: str, **options: Any) -> None:
        with self._lock:
            self.failures[number] = Failure(kind, **options)

    def created(self) -> list[dict[str, Any]]:
        """Messages created so far, oldest first."""
        with self._lock:
            return [dict(m) for m in self.messages.values()]

    def posts(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST"]

    def add_message(
        self, to: str, body: str, status_callback: str | None, *, sid: str | None = None, from_: str = "+15005550006"
    ) -> str:
        """A message as if created through the API (benchmarks make many without a round trip); returns its SID."""
        form = {"To": to, "From": from_, "Body": body}
        if status_callback:
            form["StatusCallback"] = status_callback
        return str(self._store(form, sid)["sid"])

    def deliver(self, sid: str, status: str = "delivered", error_code: str | None = None) -> int | None:
        """Move the message to `status` and POST its signed status callback; returns our server's HTTP status.

        Returns None when the message was created without a StatusCallback (nothing to call).
        """
        with self._lock:
            message = self.messages[sid]
            message["status"] = status
            message["error_code"] = int(error_code) if error_code else None
            message["date_updated"] = format_datetime(utcnow(), usegmt=True)
            url = message.get("_callback")
        if not url:
            return None
        params = self.callback_params(message, status, error_code)
        signature = twilio_signature(self.auth_token, url, params)
        return self.post_callback(url, params, signature)

    def inbound_params(
        self, from_: str, body: str, *, to: str = "+15005550006", media: tuple[tuple[str, str], ...] = (), sid: str = ""
    ) -> dict[str, str]:
        """The form of Twilio's incoming-message webhook (see the module's docstring for the source)."""
        sid = sid or new_sid("MM" if media else "SM")
        params = {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": sid,
            "NumMedia": str(len(media)),
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "CA",
            "SmsStatus": "received",
            "FromCity": "SAN FRANCISCO",
            "Body": body,
            "FromCountry": "US",
            "To": to,
            "ToZip": "",
            "NumSegments": str(max(1, -(-len(body) // 153))),
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": "2010-04-01",
        }
        for index, (url, content_type) in enumerate(media):
            params[f"MediaContentType{index}"] = content_type
            params[f"MediaUrl{index}"] = url
        return params

    def send_inbound(
        self, url: str, from_: str, body: str, *, forge: bool = False, **options: Any
    ) -> tuple[int, str, str, dict[str, str]]:
        """POST a signed incoming-message webhook to `url`: (status, content type, body, the form sent).

        forge=True signs with a wrong token (what a forger without the auth token can do)."""
        params = self.inbound_params(from_, body, **options)
        token = "not-the-auth-token" if forge else self.auth_token
        headers = {
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": twilio_signature(token, url, params),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        response = self._callback_http.post(url, data=params, headers=headers, timeout=10)
        return response.status_code, response.headers.get("Content-Type", ""), response.text, params

    def callback_params(self, message: dict[str, Any], status: str, error_code: str | None) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message["from"],
            "MessageSid": message["sid"],
            "MessageStatus": status,
            "SmsSid": message["sid"],
            "SmsStatus": status,
            "To": message["to"],
        }
        if error_code:
            params["ErrorCode"] = error_code
        return params

    def post_callback(self, url: str, params: dict[str, str], signature: str | None) -> int | None:
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        started = time.perf_counter()
        try:
            response = self._callback_http.post(url, data=params, headers=headers, timeout=10)
            code: int | None = response.status_code
        except requests.RequestException:
            code = None
        with self._lock:
            self.callbacks.append(Callback(url, params, signature or "", code, time.perf_counter() - started))
        return code

    # -- request handling ------------------------------------------------------------------------------------

    def _authorized(self, header: str | None, path_sid: str) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return hmac.compare_digest(user, self.account_sid) and hmac.compare_digest(password, self.auth_token)

    def handle(self, method: str, target: str, auth: str | None, form: dict[str, str]) -> tuple[int, dict, dict]:
        """(status, JSON body, headers) for one request; records it first."""
        path, _, raw_query = target.partition("?")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        route = ACCOUNT_PATH.match(path) or MESSAGES_PATH.match(path) or MESSAGE_PATH.match(path)
        sid = route.group(1) if route else ""
        authorized = route is not None and self._authorized(auth, sid)
        with self._lock:
            self.received.append(Received(method, path, dict(form), authorized))
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.request_delay_s:
                time.sleep(self.request_delay_s)
            return self._route(method, path, route, sid, authorized, form, query)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _route(
        self,
        method: str,
        path: str,
        route: re.Match[str] | None,
        sid: str,
        authorized: bool,
        form: dict[str, str],
        query: dict[str, str],
    ) -> tuple[int, dict, dict]:
        if route is None:
            return _error(404, 20404, "The requested resource was not found")
        if not authorized:
            return _error(401, 20003, "Authenticate")
        if route.re is ACCOUNT_PATH and method == "GET":
            return 200, self._account(), {}
        if route.re is MESSAGES_PATH and method == "POST":
            return self._create(form)
        if route.re is MESSAGES_PATH and method == "GET":
            return 200, self._list(path, query), {}
        if route.re is MESSAGE_PATH and method == "GET":
            with self._lock:
                message = self.messages.get(route.group(2))
                body = {k: v for k, v in (message or {}).items() if not k.startswith("_")}
            if message is None:
                return _error(404, 20404, f"The requested resource {path} was not found")
            return 200, body, {}
        return _error(405, 20004, "Method not allowed")

    def _list(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        size = max(1, min(int(query.get("PageSize") or 50), 1000))
        page = max(0, int(query.get("Page") or 0))
        keep = _list_filter(query)
        with self._lock:
            # newest first (Twilio lists the most recent messages first)
            found = [m for m in reversed(self.messages.values()) if keep(m)]
        chunk = found[page * size : (page + 1) * size]
        others = {k: v for k, v in query.items() if k not in ("Page", "PageSize")}

        def uri(n: int) -> str:
            return f"{path}?{urlencode({**others, 'PageSize': size, 'Page': n})}"

        return {
            "messages": [{k: v for k, v in m.items() if not k.startswith("_")} for m in chunk],
            "page": page,
            "page_size": size,
            "start": page * size,
            "end": page * size + max(len(chunk) - 1, 0),
            "uri": uri(page),
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1) if (page + 1) * size < len(found) else None,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
        }

    def _account(self) -> dict[str, Any]:
        return {
            "sid": self.account_sid,
            "friendly_name": self.friendly_name,
            "status": self.account_status,
            "type": "Full",
        }

    def _fetch_media(self, form: dict[str, str]) -> list[tuple[str, bytes]] | tuple[int, dict, dict]:
        urls = form.get("MediaUrl", "").split()
        if len(urls) > 10:
            return _error(400, 21623, "Number of media files exceeds allowed limit.")
        media = []
        for url in urls:
            try:
                answer = requests.get(url, timeout=10)
            except requests.RequestException:
                return _error(400, 11200, f"HTTP retrieval failure: {url}")
            if answer.status_code != 200:
                return _error(400, 11200, f"HTTP retrieval failure ({answer.status_code}): {url}")
            media.append((answer.headers.get("Content-Type", ""), answer.content))
        return media

    def media_of(self, sid: str) -> list[tuple[str, bytes]]:
        """(content type, bytes) of each file the message with `sid` carried, as fetched from its MediaUrl."""
        with self._lock:
            return list(self.messages[sid].get("_media") or [])

    def _create(self, form: dict[str, str]) -> tuple[int, dict, dict]:
        to, body = form.get("To", ""), form.get("Body", "")
        if not body and not form.get("MediaUrl"):
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        # Twilio: exactly one of From and MessagingServiceSid (21603 without a sender).
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
        failure = self._take_failure(to)
        if failure is not None and failure.kind == "invalid":
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if failure is not None and failure.kind == "not_mobile":
            return _error(400, 21614, f"'To' number {to} is not a valid mobile number")
        if failure is not None and failure.kind == "unsubscribed":
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        if failure is not None and failure.kind == "rate_limited":
            return _error(429, 20429, "Too Many Requests", {"Retry-After": str(failure.retry_after)})
        if failure is not None and failure.kind == "server_error":
            return _error(500, 20500, "Internal Server Error")
        if failure is not None and failure.kind == "lost":
            time.sleep(failure.delay_s)  # the client gives up; nothing was stored
            return _error(500, 20500, "Internal Server Error")
        media = self._fetch_media(form)
        if isinstance(media, tuple):
            return media
        message = self._store(form)
        message["_media"] = media
        message["num_media"] = str(len(media))
        if failure is not None and failure.kind == "slow":
            time.sleep(failure.delay_s)  # the message exists, but the answer comes too late
        return 201, {k: v for k, v in message.items() if not k.startswith("_")}, {}

    def _take_failure(self, to: str) -> Failure | None:
        with self._lock:
            failure = self.failures.get(to)
            if failure is None:
                return None
            if failure.times is not None:
                failure.times -= 1
                if failure.times <= 0:
                    del self.failures[to]
            return failure

    def _store(self, form: dict[str, str], sid: str | None = None) -> dict[str, Any]:
        sid = sid or new_sid("SM")
        now = format_datetime(utcnow(), usegmt=True)
        message = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": form["To"],
            "from": form.get("From", ""),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "status": "queued",
            "num_segments": str(max(1, -(-len(form["Body"]) // 153))),
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "date_sent": now,  # this fake hands every message to the carrier at once
            "error_code": None,
            "error_message": None,
            "uri": f"{API}{self.account_sid}/Messages/{sid}.json",
            "_callback": form.get("StatusCallback"),
        }
        with self._lock:
            self.messages[sid] = message
        return message


def _list_filter(query: dict[str, str]) -> Any:
    """The documented filters of the Message list: To, From, DateSent (=, <, >) on the UTC date sent."""
    from email.utils import parsedate_to_datetime

    def sent_day(message: dict[str, Any]) -> str | None:
        raw = message.get("date_sent")
        return parsedate_to_datetime(raw).date().isoformat() if raw else None

    def keep(message: dict[str, Any]) -> bool:
        if "To" in query and message["to"] != query["To"]:
            return False
        if "From" in query and message["from"] != query["From"]:
            return False
        day = sent_day(message)
        if "DateSent" in query and day != query["DateSent"]:
            return False
        if "DateSent<" in query and (day is None or day > query["DateSent<"]):
            return False
        return not ("DateSent>" in query and (day is None or day < query["DateSent>"]))

    return keep


def _error(status: int, code: int, message: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return status, {**body, "status": status}, headers or {}


class _Handler(BaseHTTPRequestHandler):
    twilio: FakeTwilio
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle + delayed ACK stall each answer ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def do_GET(self) -> None:
        self._answer("GET", {})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        pairs = parse_qsl(raw, keep_blank_values=True)
        form = dict(pairs)
        media = [value for name, value in pairs if name == "MediaUrl"]
        if media:  # repeated once per file: kept here as one space-separated value
            form["MediaUrl"] = " ".join(media)
        self._answer("POST", form)

    def _answer(self, method: str, form: dict[str, str]) -> None:
        status, body, headers = self.twilio.handle(method, self.path, self.headers.get("Authorization"), form)
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a read timeout): Twilio would have kept the message all the same


def main() -> None:
    """Serve in this process (benchmarks: the fake's CPU then does not compete with the app's). Prints
    `URL <url> <account sid> <auth token>`; answers each `created` line read from stdin with a JSON list of the
    To numbers of the messages created so far. `--delay S`: the per-request delay."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    with FakeTwilio(request_delay_s=args.delay) as fake:
        sys.stdout.write(f"URL {fake.url} {fake.account_sid} {fake.auth_token}\n")
        sys.stdout.flush()
        for line in sys.stdin:
            if line.strip() == "created":
                sys.stdout.write(json.dumps([m["to"] for m in fake.created()]) + "\n")
                sys.stdout.flush()
            elif line.strip() == "quit":
                break


if __name__ == "__main__":
    main()
