"""A fake provider's HTTP server on loopback: started in a daemon thread, stopped cleanly."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve_in_thread(
    handler: type[BaseHTTPRequestHandler], name: str, server_class: type[ThreadingHTTPServer] = ThreadingHTTPServer
) -> ThreadingHTTPServer:
    """Serve `handler` on 127.0.0.1 at a free port (`server.server_port`) until `stop_server`."""
    server = server_class(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True).start()
    return server


def stop_server(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
