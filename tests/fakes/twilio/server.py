"""The fake Twilio's HTTP server: the Messages API's routes, programmed failures, and `main` to serve it in a
process of its own (`python -m tests.fakes.twilio`). The protocol pieces are in protocol.py, the webhooks it sends
in webhooks.py."""

from __future__ import annotations

import base64
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
from tests.fakes.twilio.protocol import (
    ACCOUNT_PATH,
    API,
    E164,
    MESSAGE_PATH,
    MESSAGES_PATH,
    Callback,
    Failure,
    Received,
    error_answer,
    list_filter,
    new_sid,
)
from tests.fakes.twilio.webhooks import Webhooks


@dataclass
class FakeTwilio(Webhooks):
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
            return error_answer(404, 20404, "The requested resource was not found")
        if not authorized:
            return error_answer(401, 20003, "Authenticate")
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
                return error_answer(404, 20404, f"The requested resource {path} was not found")
            return 200, body, {}
        return error_answer(405, 20004, "Method not allowed")

    def _list(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        size = max(1, min(int(query.get("PageSize") or 50), 1000))
        page = max(0, int(query.get("Page") or 0))
        keep = list_filter(query)
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
            return error_answer(400, 21623, "Number of media files exceeds allowed limit.")
        media = []
        for url in urls:
            try:
                answer = requests.get(url, timeout=10)
            except requests.RequestException:
                return error_answer(400, 11200, f"HTTP retrieval failure: {url}")
            if answer.status_code != 200:
                return error_answer(400, 11200, f"HTTP retrieval failure ({answer.status_code}): {url}")
            media.append((answer.headers.get("Content-Type", ""), answer.content))
        return media

    def media_of(self, sid: str) -> list[tuple[str, bytes]]:
        """(content type, bytes) of each file the message with `sid` carried, as fetched from its MediaUrl."""
        with self._lock:
            return list(self.messages[sid].get("_media") or [])

    def _create(self, form: dict[str, str]) -> tuple[int, dict, dict]:
        to, body = form.get("To", ""), form.get("Body", "")
        if not body and not form.get("MediaUrl"):
            return error_answer(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return error_answer(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if not E164.match(to):
            return error_answer(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        # Twilio: exactly one of From and MessagingServiceSid (21603 without a sender).
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return error_answer(
                400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."
            )
        failure = self._take_failure(to)
        if failure is not None and failure.kind == "invalid":
            return error_answer(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if failure is not None and failure.kind == "not_mobile":
            return error_answer(400, 21614, f"'To' number {to} is not a valid mobile number")
        if failure is not None and failure.kind == "unsubscribed":
            return error_answer(400, 21610, "Attempt to send to unsubscribed recipient")
        if failure is not None and failure.kind == "rate_limited":
            return error_answer(429, 20429, "Too Many Requests", {"Retry-After": str(failure.retry_after)})
        if failure is not None and failure.kind == "server_error":
            return error_answer(500, 20500, "Internal Server Error")
        if failure is not None and failure.kind == "lost":
            time.sleep(failure.delay_s)  # the client gives up; nothing was stored
            return error_answer(500, 20500, "Internal Server Error")
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
