"""Shared set-up for the campaign benchmarks: an app on a fresh store, SMTP configured, contacts inserted."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backend.app import create_app  # noqa: E402
from backend.config import Config  # noqa: E402
from backend.store.migrate import upgrade  # noqa: E402
from tests.campaign_helpers import add_contacts, configure_smtp  # noqa: E402
from tests.helpers import bearer  # noqa: E402


class SmtpProcess:
    """The fake SMTP server (plain, messages counted not kept) in its own process; `reply_delay_s` delays each of
    its replies (tests/fakes/smtp_server.py `--reply-delay`); `wire_rtt_s` puts it that round trip away behind a
    delay line instead (`--wire-rtt`, tests/fakes/delay_line.py: both directions delayed, as on a network)."""

    def __init__(self, reply_delay_s: float = 0.0, wire_rtt_s: float = 0.0) -> None:
        args = [sys.executable, "-m", "tests.fakes.smtp_server"]
        if reply_delay_s:
            args += ["--reply-delay", str(reply_delay_s)]
        if wire_rtt_s:
            args += ["--wire-rtt", str(wire_rtt_s)]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise SystemExit(f"the fake SMTP server did not start ({line!r})")
        self.port = int(line.split()[1])

    def count(self) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(10)


def make_app(
    database_url: str | None = None, jobs: bool = True, delivery_job: bool = False
) -> tuple[Any, Any, dict[str, str]]:
    data_dir = Path(tempfile.mkdtemp(prefix="bulkmsg-bench-"))
    url = database_url or f"sqlite:///{data_dir / 'bulkmsg.sqlite3'}"
    # The delivery-status job is off unless asked for: it is not part of a send (smtp_campaign reports its effect).
    config = Config(data_dir=data_dir, database_url=url, port=0, jobs=jobs, testing=True, delivery_job=delivery_job)
    app = create_app(config)
    services = app.extensions["bulkmsg"]
    upgrade(services.db)
    return app, services, bearer(services.account_token())


def smtp_settings(port: int) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "news@example.com",
        "from_name": "Bench News",
    }


__all__ = ["SmtpProcess", "add_contacts", "configure_smtp", "make_app", "smtp_settings"]
