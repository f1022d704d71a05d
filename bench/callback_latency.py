"""Callback-to-socket latency: from Twilio's signed status callback to `message.updated` on the dashboard socket.

The server runs in this process (real Werkzeug + flask-sock on loopback, background jobs on, the delivery-status
job sweeping every 5 s). "Twilio" and the dashboard run in a separate process so they do not share the
server's interpreter lock: the fake Twilio POSTs each signed status callback (the real algorithm) to
`/webhooks/twilio/status` at a steady pace, and a WebSocket client timestamps the `message.updated` that settles
that message. Latency = socket receive time - time just before the callback POST.

Prints JSON lines {"bench","metric","value","unit","baseline","ratio"}:
- callback_to_socket_p50_ms / _p99_ms over 1,000 callbacks arriving at 20/s (`--rate`), the webhook nudging
  the job (target p99 < 250 ms);
  baseline: the same callbacks settled by the 5-second sweep alone (the nudge switched off), measured in the
  same run; ratio = baseline / value.
Run: `.venv/bin/python bench/callback_latency.py [--store sqlite|postgresql|both] [--callbacks N] [--rate R]`.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import note, pg_base_url, result  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402

from backend.config import Config  # noqa: E402
from backend.server import AppServer, start_app_server  # noqa: E402
from backend.store.models import Message, utcnow  # noqa: E402

BENCH = "callback_latency"
CALLBACKS = 1_000
BASELINE_CALLBACKS = 200
#: callbacks per second: a busy stream (a campaign at Twilio's 1 message/s per number makes 2-3/s).
RATE_PER_S = 20.0
SETTLE_TIMEOUT_S = 20.0


# -- the Twilio + dashboard side (a child process) ---------------------------------------------------------------


def _twilio_and_dashboard(
    url: str, token: str, account_sid: str, auth_token: str, messages: list[tuple[int, str]], rate: float, out: Any
) -> None:
    """POST a signed 'delivered' callback per message at `rate` per second; report latencies (s) and failures."""
    from tests.fakes.twilio import FakeTwilio
    from tests.helpers import EventSocket

    fake = FakeTwilio(account_sid=account_sid, auth_token=auth_token)
    for _, sid in messages:
        fake.add_message("+14155552671", "Hi", f"{url}/webhooks/twilio/status", sid=sid)
    received: dict[int, float] = {}
    done = threading.Event()
    socket = EventSocket(url, token)

    def read() -> None:
        while len(received) < len(messages):
            try:
                frame = socket.next(timeout=SETTLE_TIMEOUT_S + 10)
            except Exception:
                break
            if frame.get("type") == "message.updated":
                message = frame["data"]["message"]
                if message.get("delivered") is not None:
                    received.setdefault(message["id"], time.perf_counter())
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    time.sleep(0.3)  # the hello is answered before the first callback
    started: dict[int, float] = {}
    failures = 0
    begin = time.perf_counter()
    for i, (message_id, _) in enumerate(messages):
        slot = begin + i / rate
        pause = slot - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        started[message_id] = time.perf_counter()
        if fake.deliver(messages[i][1], "delivered") != 204:
            failures += 1
    done.wait(SETTLE_TIMEOUT_S)
    socket.close()
    latencies = [received[m] - started[m] for m in started if m in received]
    posts = sorted(c.latency_s for c in fake.callbacks)
    out.put((latencies, failures, len(messages) - len(latencies), posts))


# -- the server side ---------------------------------------------------------------------------------------------


def _insert_sent(services: Any, n: int) -> list[tuple[int, str]]:
    """`n` sent SMS rows waiting for their delivery status, not due for a check for an hour (so only the
    callback, not a provider poll, can settle them); returns [(id, SID)]."""
    now = utcnow()
    tag = uuid.uuid4().hex[:8]
    rows = [
        dict(
            account_id=1, channel="sms", recipient="+14155552671", body="Hi", sender_type="conversation",
            sender_id=f"bench-{i % 50}", status="sent", attempts=1, next_attempt_at=now,
            provider_message_id=f"SM{tag}{i:024d}", delivered=None, delivery_expired=False,
            delivery_check_attempts=0, delivery_next_check_at=now + timedelta(hours=1), meta={},
            created_at=now, updated_at=now, sent_at=now,
        )
        for i in range(n)
    ]  # fmt: skip
    with services.db.write() as session:
        session.execute(insert(Message), rows)
    with services.db.read() as session:
        found = session.execute(
            text("SELECT id, provider_message_id FROM messages WHERE provider_message_id LIKE :p ORDER BY id"),
            {"p": f"SM{tag}%"},
        ).all()
    return [(int(i), str(s)) for i, s in found]


def _configure(server: AppServer) -> tuple[str, str]:
    """Public URL = the server; SMS configured through the API against a fake Twilio. Returns (sid, token)."""
    import requests

    from tests.fakes.twilio import FakeTwilio

    http = requests.Session()
    http.trust_env = False
    http.headers["Authorization"] = f"Bearer {server.token}"
    http.put(f"{server.url}/api/settings", json={"public_url": server.url}, timeout=10).raise_for_status()
    with FakeTwilio() as fake:
        http.put(f"{server.url}/api/channels/sms", json=fake.settings(), timeout=10).raise_for_status()
        return fake.account_sid, fake.auth_token


def _run(server: AppServer, creds: tuple[str, str], n: int, rate: float) -> tuple[list[float], int, int]:
    services = server.app.extensions["bulkmsg"]
    messages = _insert_sent(services, n)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    child = ctx.Process(target=_twilio_and_dashboard, args=(server.url, server.token, *creds, messages, rate, out))
    child.start()
    latencies, failures, missing, posts = out.get(timeout=n / rate + SETTLE_TIMEOUT_S + 60)
    child.join(10)
    if posts:
        note(
            f"webhook answer (POST to 204): p50 {_percentile(posts, 50) * 1000:.1f} ms, "
            f"p99 {_percentile(posts, 99) * 1000:.1f} ms"
        )
    return latencies, failures, missing


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


class _NotNudged:
    """Stands in for the delivery job while the baseline runs: the webhooks' nudges go nowhere (the scheduler
    still runs the real job's sweep)."""

    def nudge(self) -> None:
        return None


def bench(store: str, callbacks: int, baseline_callbacks: int, rate: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bulkmsg-bench-") as tmp:
        url, cleanup = _database(store, Path(tmp))
        config = Config(data_dir=Path(tmp), database_url=url, port=0, jobs=True, testing=True, log_level="WARNING")
        server = start_app_server(config)
        try:
            services = server.app.extensions["bulkmsg"]
            creds = _configure(server)
            nudged, failed, missing = _run(server, creds, callbacks, rate)
            note(f"{store}: nudged run: {len(nudged)} settled, {failed} callbacks refused, {missing} not settled")
            # The baseline: the webhook still records every callback, but nobody nudges the job.
            job, services.delivery_job = services.delivery_job, _NotNudged()
            try:
                swept, failed_b, missing_b = _run(server, creds, baseline_callbacks, rate)
            finally:
                services.delivery_job = job
            note(f"{store}: sweep-only run: {len(swept)} settled, {failed_b} refused, {missing_b} not settled")
        finally:
            server.stop(pause_campaigns=False)
            cleanup()
    for label, p in (("p50", 50), ("p99", 99)):
        value = _percentile(nudged, p) * 1000
        baseline = _percentile(swept, p) * 1000 if swept else None
        result(
            BENCH,
            f"callback_to_socket_{label}_ms_{store}",
            round(value, 1),
            "ms",
            round(baseline, 1) if baseline is not None else None,
            round(baseline / value, 1) if baseline else None,
        )
    note(
        f"{store}: mean {statistics.fmean(nudged) * 1000:.1f} ms, max {max(nudged) * 1000:.1f} ms "
        f"over {len(nudged)} callbacks at {rate:g}/s"
    )


def _database(store: str, tmp: Path) -> tuple[str, Any]:
    if store == "sqlite":
        return f"sqlite:///{tmp / 'bench.sqlite3'}", lambda: None
    base = pg_base_url()
    if base is None:
        raise SystemExit(0)
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options={quote(f'-csearch_path={schema}')}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--callbacks", type=int, default=CALLBACKS)
    parser.add_argument("--baseline-callbacks", type=int, default=BASELINE_CALLBACKS)
    parser.add_argument("--rate", type=float, default=RATE_PER_S, help="callbacks per second")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per callback otherwise
    stores = ("sqlite", "postgresql") if args.store == "both" else (args.store,)
    for store in stores:
        if store == "postgresql" and pg_base_url() is None:
            continue
        bench(store, args.callbacks, args.baseline_callbacks, args.rate)


if __name__ == "__main__":
    main()
