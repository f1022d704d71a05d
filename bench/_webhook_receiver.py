"""A webhook receiver in its own process (as a real receiver is): `python _webhook_receiver.py HANG_S` prints
`PORT <n>`, then answers every POST with 200 after holding it HANG_S seconds, until its stdin closes."""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if HANG_S:
            time.sleep(HANG_S)
        try:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the sender gave up

    def log_message(self, *_args: Any) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"PORT {server.server_port}", flush=True)
    sys.stdin.read()  # until the bench closes it


if __name__ == "__main__":
    main()
