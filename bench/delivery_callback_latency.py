"""Callback to dashboard: from a signed `POST /webhooks/communications` to `message.updated` on `/ws`.

A real server on loopback (SQLite, background jobs on) and a real WebSocket client. 1,000 sent messages; for each,
one signed delivery report is posted and the time until the dashboard socket receives that message's
`message.updated` is measured (p50, p99; target p99 under 250 ms). Baseline, in the same run: the same path with
the job's nudge switched off, so only the 5-second sweep settles the message (BASELINE_CALLBACKS of them).

Run: .venv/bin/python bench/delivery_callback_latency.py
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
import websocket
from _common import note, result

from backend.config import Config
from backend.server import start_app_server
from backend.store.models import Message, utcnow

BENCH = "delivery_callback_latency"
CALLBACKS = 1000
BASELINE_CALLBACKS = 6


def add_sent(services: Any, n: int) -> list[int]:
    now = utcnow()
    with services.db.write() as session:
        rows = [
            Message(account_id=1, channel="smtp", recipient=f"r{i}@example.org", body="Hello", sender_type="campaign",
                    sender_id="1", status="sent", attempts=1, sent_at=now, delivery_next_check_at=now, meta={})
            for i in range(n)
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        return [m.id for m in rows]


def socket_for(url: str, token: str) -> Any:
    ticket = requests.post(f"{url}/api/ws-ticket", headers={"Authorization": f"Bearer {token}"}, timeout=5).json()
    ws = websocket.create_connection(url.replace("http://", "ws://") + "/ws", timeout=30, origin=url)
    ws.send(json.dumps({"type": "hello", "ticket": ticket["ticket"], "after": None}))
    return ws


def measure(url: str, ws: Any, secret: str, ids: list[int]) -> list[float]:
    latencies = []
    http = requests.Session()
    for message_id in ids:
        body = json.dumps({"message_id": message_id, "provider": "bench", "event_id": f"e{message_id}",
                           "status": "delivered", "success": True}).encode()  # fmt: skip
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-Bulkmsg-Signature": signature}
        started = time.perf_counter()
        assert http.post(f"{url}/webhooks/communications", data=body, headers=headers, timeout=10).ok
        while True:
            frame = json.loads(ws.recv())
            if frame.get("type") == "message.updated" and frame["data"]["message"]["id"] == message_id:
                break
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one access-log line per request otherwise
    with tempfile.TemporaryDirectory(prefix="bulkmsg-bench-") as tmp:
        config = Config(data_dir=Path(tmp), database_url=f"sqlite:///{tmp}/bench.sqlite3", port=0, log_level="WARNING")
        server = start_app_server(config)
        try:
            services = server.app.extensions["bulkmsg"]
            with services.db.write() as session:
                secret = services.secrets.webhook_secret(session, 1)
            ids = add_sent(services, CALLBACKS + BASELINE_CALLBACKS)
            ws = socket_for(server.url, server.token)
            nudged = measure(server.url, ws, secret, ids[:CALLBACKS])
            job = services.delivery_job
            job.nudge = lambda: None  # the baseline: only the 5-second sweep settles
            swept = measure(server.url, ws, secret, ids[CALLBACKS:])
            ws.close()
        finally:
            server.stop(pause_campaigns=False)
    p50, p99 = statistics.median(nudged), sorted(nudged)[int(len(nudged) * 0.99) - 1]
    base = statistics.median(swept)
    note(f"nudged: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(nudged):.1f} ms; sweep only: p50 {base:.0f} ms")
    result(BENCH, "callback_to_socket_p50", round(p50, 2), "ms", round(base, 1), round(base / p50, 1))
    result(BENCH, "callback_to_socket_p99", round(p99, 2), "ms", round(max(swept), 1), round(max(swept) / p99, 1))


if __name__ == "__main__":
    main()
