"""Serving the app on loopback: in the foreground (`bulkmsg serve`) or in a thread (desktop shell, tests)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from backend.app import create_app
from backend.config import Config
from backend.runtime import Runtime
from backend.store.migrate import upgrade

log = logging.getLogger(__name__)


def build_server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    # Threaded Werkzeug: each request and each WebSocket gets its own thread (flask-sock needs that).
    return make_server(host, port, app, threaded=True)


@dataclass
class AppServer:
    """A running app: `url` to open, `token` for the default account, `stop()` to end it all."""

    app: Flask
    runtime: Runtime
    server: BaseWSGIServer
    thread: threading.Thread
    url: str
    token: str

    def stop_sending(self) -> None:
        """No send starts from now on; `stop()` follows (called from the signal handler of `serve`)."""
        self.runtime.stop_sending()

    def stop(self, *, pause_campaigns: bool = True) -> None:
        self.runtime.stop_sending()  # before anything else: shutting the rest down takes a while
        # Stop accepting first: a page whose socket is closed below reconnects at once, and must find no server.
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.runtime.stop(pause_campaigns=pause_campaigns)
        self.app.extensions["bulkmsg"].hub.stop()  # closes open sockets (1001) even when jobs never ran
        self.server.server_close()
        self._end_own_sign_in()
        self.app.extensions["bulkmsg"].db.dispose()

    def _end_own_sign_in(self) -> None:
        """The token made for this run (the desktop window's) dies with it."""
        services = self.app.extensions["bulkmsg"]
        try:
            principal = services.signer.verify(self.token)
            if principal.sign_in is not None:
                services.sign_ins.revoke(principal.account_id, principal.sign_in)
        except Exception:  # noqa: BLE001 - stopping goes on whatever the store says; the sign-in expires anyway
            log.warning("could not end this run's sign-in", exc_info=True)


def start_app_server(config: Config, *, jobs: bool | None = None) -> AppServer:
    """Upgrade the schema, start the background parts and serve on `config.host` (port 0: a free one)."""
    app = create_app(config)
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    runtime = Runtime(app)
    if config.jobs if jobs is None else jobs:
        runtime.start()
    server = build_server(app, config.host, config.port)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    host = f"[{config.host}]" if ":" in config.host else config.host
    url = f"http://{host}:{server.server_port}"
    token = services.account_token(kind="desktop", label="Desktop window")
    return AppServer(app, runtime, server, thread, url, token)
