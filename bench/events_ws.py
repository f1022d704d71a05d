"""Events fan-out: events/s delivered across 10 WebSocket clients, and the effect of one stalled client.

The server runs in this process (real Werkzeug + flask-sock on loopback, SQLite store); the clients run in a
separate process (threads, websocket-client), so they do not share the server's interpreter lock.
Prints JSON lines {"bench","metric","value","unit","baseline","ratio"}:
- events_per_s_10_clients: events delivered to all 10 clients per second (each event counted per client);
  baseline: the same pipeline with 1 client.
- events_per_s_with_stalled_client: 10 reading clients plus one that never reads; baseline: without it
  (ratio near 1.0 means the stalled client slows nobody).
Every reading client must get every event without `resync`; a client that misses events, gets `resync`, or hears
nothing for READ_TIMEOUT_S ends the run with a failure (exit status 1) instead of waiting forever.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import queue
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend.accounts import get_or_create_account  # noqa: E402
from backend.config import Config  # noqa: E402
from backend.server import start_app_server  # noqa: E402

EVENTS = 20_000
BATCH = 1_000
#: a reading client that hears nothing for this long ends the run with a failure.
READ_TIMEOUT_S = 20


def _client(url: str, token: str, n: int, ready, results, stalled: bool) -> None:
    from tests.helpers import EventSocket

    sock = EventSocket(url, token, receive_buffer=4096 if stalled else None)
    ready.put(1)
    if stalled:
        time.sleep(120)
        return
    got = resyncs = 0
    first = last = 0.0
    error = ""
    while got < n:
        try:
            frame = sock.next(timeout=READ_TIMEOUT_S)
        except Exception as exc:  # a silent server must end the run, not hang it
            error = f"no event for {READ_TIMEOUT_S}s after {got} ({exc.__class__.__name__})"
            break
        if frame.get("type") == "resync":
            resyncs += 1
            continue
        if "id" not in frame:
            continue
        if got == 0:
            first = time.perf_counter()
        got += 1
        last = time.perf_counter()
    results.put((got, first, last, resyncs, error))
    sock.close()


def _clients_proc(url: str, token: str, n: int, readers: int, stalled: int, ready, results) -> None:
    import threading

    threads = [
        threading.Thread(target=_client, args=(url, token, n, ready, results, i >= readers), daemon=True)
        for i in range(readers + stalled)
    ]
    for t in threads:
        t.start()
    for t in threads[:readers]:
        t.join()


def run(readers: int, stalled: int) -> float:
    data = Path(tempfile.mkdtemp(prefix="bench-events-"))
    server = start_app_server(Config(data_dir=data, database_url=f"sqlite:///{data / 's.sqlite3'}", port=0))
    services = server.app.extensions["bulkmsg"]
    with services.db.write() as session:
        account_id = get_or_create_account(session).id
    ctx = mp.get_context("spawn")
    ready, results = ctx.Queue(), ctx.Queue()
    proc = ctx.Process(target=_clients_proc, args=(server.url, server.token, EVENTS, readers, stalled, ready, results))
    proc.start()
    for _ in range(readers + stalled):
        ready.get(timeout=60)
    time.sleep(0.5)
    start = time.perf_counter()
    for b in range(EVENTS // BATCH):
        with services.db.write() as session:
            for i in range(BATCH):
                services.hub.record(
                    session,
                    account_id,
                    "send.progress",
                    f"Sent to +1555{b:03d}{i:04d}",
                    level="success",
                    data={"status": "sent", "message_id": b * BATCH + i},
                )
    try:
        outcomes = [results.get(timeout=READ_TIMEOUT_S * 3) for _ in range(readers)]
    except queue.Empty:
        outcomes = []
    finally:
        proc.terminate()
        proc.join()
        server.stop()
    if len(outcomes) < readers:
        raise SystemExit(f"events_ws: only {len(outcomes)} of {readers} clients reported within the time bound")
    delivered = sum(o[0] for o in outcomes)
    resyncs = sum(o[3] for o in outcomes)
    errors = [o[4] for o in outcomes if o[4]]
    if delivered != EVENTS * readers or resyncs:
        raise SystemExit(
            f"events_ws: {readers} reading clients got {delivered} of {EVENTS * readers} events with {resyncs} "
            f"resync(s){'; ' + errors[0] if errors else ''}"
        )
    end = max(o[2] for o in outcomes)
    return delivered / (end - start)


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    one = run(1, 0)
    ten = run(10, 0)
    ten_stalled = run(10, 1)
    for metric, value, baseline in (
        ("events_per_s_10_clients", ten, one),
        ("events_per_s_with_stalled_client", ten_stalled, ten),
    ):
        print(
            json.dumps(
                {
                    "bench": "events_ws",
                    "metric": metric,
                    "value": round(value),
                    "unit": "events/s",
                    "baseline": round(baseline),
                    "ratio": round(value / baseline, 2),
                }
            )
        )


if __name__ == "__main__":
    main()
