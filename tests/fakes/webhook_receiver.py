"""Real HTTP receivers of outgoing webhooks on loopback, answering as receivers in the wild do.

Shapes from the Standard Webhooks specification (https://github.com/standard-webhooks/standard-webhooks,
spec/standard-webhooks.md, "Delivery behavior"): a 2xx accepts, 410 Gone asks the sender to disable the
endpoint, any other status or a timeout is a failure to retry, a 3xx redirect is not to be followed, and
`Retry-After` (RFC 9110 section 10.2.3) asks for a later retry. Each receiver records every request (path,
headers, raw body) and answers from a script: `answers` is consumed one per request, then `then` for the rest.
`hang_s` holds every request that long before answering (or until `release()`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.fakes.http import serve_in_thread, stop_server


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    then: tuple[int, dict[str, str]] = (200, {})
    hang_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}/hook"

    def release(self) -> None:
        self.released.set()

    def next_answer(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            return self.answers.pop(0) if self.answers else self.then

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                if receiver.hang_s:
                    receiver.released.wait(receiver.hang_s)
                status, headers = receiver.next_answer()
                payload = b'{"ok": true}' if status < 300 else b"x" * 5000
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except OSError:
                    pass  # the sender gave up (a hang test)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = serve_in_thread(Handler, "webhook-receiver")
        return self

    def stop(self) -> None:
        self.released.set()
        stop_server(self.server)
