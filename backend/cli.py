"""`bulkmsg`: serve, desktop, token, db upgrade."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence

from backend import __version__
from backend.config import Config, ConfigError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bulkmsg",
        description="Send personalised messages over WhatsApp, Gmail, SMTP and SMS, and watch each one live.",
    )
    parser.add_argument("--version", action="version", version=f"bulkmsg {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser(
        "serve",
        help="run the headless web server (loopback) and print the URL to open",
        description="Run the app as a local web server. Prints the URL to open, with a one-time login code. "
        "Binds to 127.0.0.1 unless told otherwise.",
    )
    serve.add_argument("--host", help="address to bind (default 127.0.0.1, env BULKMSG_HOST)")
    serve.add_argument("--port", type=int, help="port (default 8765, env BULKMSG_PORT; 0 picks a free one)")
    serve.add_argument("--data-dir", help="data directory (env BULKMSG_DATA_DIR)")
    serve.add_argument("--db", help="database URL, e.g. postgresql+psycopg://user@host/db (env BULKMSG_DATABASE_URL)")
    serve.add_argument("--no-jobs", action="store_true", help="serve the API only: no dispatchers, no scheduler")

    desktop = sub.add_parser("desktop", help="open the desktop window", description="Open the desktop window.")
    desktop.add_argument("--data-dir", help="data directory (env BULKMSG_DATA_DIR)")
    desktop.add_argument("--db", help="database URL (env BULKMSG_DATABASE_URL)")

    token = sub.add_parser(
        "token",
        help="print a bearer token for the API",
        description="Print a bearer token for the API alone on one line (the account is created when new). It "
        "lasts 12 hours, renewed while in use (a fresh one comes in the X-Bulkmsg-Token response header).",
    )
    token.add_argument("--account", default="default", help="account name (default: default)")
    token.add_argument("--data-dir", help="data directory (env BULKMSG_DATA_DIR)")
    token.add_argument("--db", help="database URL (env BULKMSG_DATABASE_URL)")

    db = sub.add_parser("db", help="database maintenance", description="Database maintenance.")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_sub.add_parser("upgrade", help="create or upgrade the schema to the newest version")
    up.add_argument("--data-dir", help="data directory (env BULKMSG_DATA_DIR)")
    up.add_argument("--db", help="database URL (env BULKMSG_DATABASE_URL)")
    return parser


def load_config(args: argparse.Namespace, **extra: object) -> Config:
    return Config.from_env(
        os.environ,
        data_dir=getattr(args, "data_dir", None),
        database_url=getattr(args, "db", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        **extra,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args)
    except ConfigError as exc:
        print(f"bulkmsg: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return serve(config.replace(jobs=not args.no_jobs))
    if args.command == "desktop":
        # Installed as `bulkmsg_desktop` (setup.py), through a finder mypy does not follow: typed here.
        from bulkmsg_desktop.app import main as desktop_main

        return int(desktop_main(config))
    if args.command == "token":
        return print_token(config, args.account)
    if args.command == "db":
        return db_upgrade(config)
    return 2


def _services(config: Config):  # type: ignore[no-untyped-def]
    from backend.services import Services
    from backend.store.migrate import upgrade

    services = Services.build(config)
    upgrade(services.db)
    return services


def print_token(config: Config, account: str) -> int:
    services = _services(config)
    print(services.account_token(account, label="bulkmsg token"))
    services.db.dispose()
    return 0


def db_upgrade(config: Config) -> int:
    from backend.logs import setup_logging

    setup_logging(config.log_level, None)
    _services(config).db.dispose()
    print("The database schema is up to date.")
    return 0


def serve(config: Config) -> int:
    from backend.logs import setup_logging
    from backend.server import start_app_server

    setup_logging(config.log_level, config.data_dir)
    try:
        running = start_app_server(config)
    except OSError as exc:
        print(f"bulkmsg: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        print("Pick another port with --port or BULKMSG_PORT.", file=sys.stderr)
        return 1
    code = running.app.extensions["bulkmsg"].login_code()
    print(f"Bulk Messenger {__version__} is running.", flush=True)
    print(f"Open {running.url}/#login={code}", flush=True)
    print("(The link works once. Press Ctrl+C to stop.)", flush=True)
    done = threading.Event()

    def on_signal(*_: object) -> None:
        running.stop_sending()  # at once: no send starts after the signal
        done.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    done.wait()
    print("Stopping...", flush=True)
    running.stop(pause_campaigns=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
