"""Reading the inbox: mixed mail APPENDed to a real Dovecot, read and applied (issue 22; target 200 mails/s).

SQLite store, the app's own InboxReader (each mail parsed in the mail-reader process, applied in batches).
- Throughput: MAILS mixed mails (replies in many languages from the corpus of tests/data/replies, RFC 3464
  bounces of messages we sent, named by their authentic Message-ID, and automatic replies) are APPENDed, then
  read until every one is applied: mails per second. Baseline, in the same run: the same mails fetched from
  Dovecot by the same batches with nothing parsed or stored (the IMAP floor).
- Latency: STREAMED more mails APPENDed at STREAM_RATE per second while a reader reads in a loop; for each, the
  time from its APPEND's answer to its `message.created` event (p50, p99). Baseline: APPEND to fetch of the
  same mail with nothing parsed or stored.
Each figure is a JSON line (bench/_common.py); the machine's load goes to stderr beside it.

Run: .venv/bin/python bench/inbox_read.py [--mails N]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402
from _common import note, note_load, result, store  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from backend.channels.email_mime import message_id_for  # noqa: E402
from backend.conversations.mailbox import BATCH  # noqa: E402
from backend.store.models import Event  # noqa: E402
from tests.fakes import dovecot  # noqa: E402
from tests.hostile_mail import report_of_recipients  # noqa: E402

BENCH = "inbox_read"
MAILS = 10_000
STREAMED = 300
STREAM_RATE = 50.0
CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "replies"


def replies_texts() -> list[str]:
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    return [(CORPUS / name).read_text(encoding="utf-8") for name in expected if name.endswith(".txt")]


def reply_mail(n: int, body: str) -> bytes:
    return (
        f"From: Writer {n % 500} <writer{n % 500}@example.org>\r\nTo: support@example.com\r\nSubject: Re: Order\r\n"
        f"Message-ID: <bench-{n}@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "\r\n" + body.replace("\n", "\r\n")
    ).encode()


def auto_mail(n: int) -> bytes:
    return (
        f"From: <writer{n % 500}@example.org>\r\nTo: support@example.com\r\nSubject: Out of office: Order\r\n"
        f"Auto-Submitted: auto-replied\r\nMessage-ID: <bench-{n}@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nI am away until Monday.\r\n"
    ).encode()


def bounce_mail(n: int, our_id: str, recipient: str) -> bytes:
    report = report_of_recipients(our_id, 1).decode().replace("someone0@example.net", recipient)
    return report.replace("<many-1@mx.example.net>", f"<bench-{n}@mx.example.net>").encode()


def sent_messages(services: Any, count: int) -> list[tuple[str, str]]:
    """`count` email messages we sent, as (their authentic Message-ID, recipient)."""
    with services.db.write() as session:
        session.execute(
            text(
                "INSERT INTO messages (account_id, channel, direction, recipient, body, sender_type, sender_id, "
                "status, attempts, next_attempt_at, delivered, delivery_expired, delivery_check_attempts, metadata, "
                "created_at, updated_at, sent_at) SELECT 1, 'smtp', 'out', 'gone' || value || '@example.net', 'Hi', "
                "'campaign', '1', 'sent', 1, CURRENT_TIMESTAMP, NULL, 0, 0, '{}', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM json_each(:numbers)"
            ),
            {"numbers": json.dumps(list(range(count)))},
        )
        rows = session.execute(text("SELECT id, recipient FROM messages ORDER BY id")).all()
    key = services.keys.message_id_key
    return [(message_id_for(1, int(i), "example.com", key), str(r)) for i, r in rows]


def mixed_mails(services: Any, count: int, start: int = 0) -> list[bytes]:
    texts = replies_texts()
    bounces = sent_messages(services, count // 4 + 1)
    out = []
    for n in range(start, start + count):
        if n % 4 == 1:
            our_id, recipient = bounces[(n // 4) % len(bounces)]
            out.append(bounce_mail(n, our_id, recipient))
        elif n % 7 == 3:
            out.append(auto_mail(n))
        else:
            out.append(reply_mail(n, texts[n % len(texts)]))
    return out


def configure(services: Any, server: dovecot.Dovecot) -> None:
    settings = {**server.settings(), "host": "127.0.0.1", "port": 9, "from_address": "support@example.com"}
    password = str(settings.pop("imap_password"))
    services.channels.configure(1, "smtp", settings, {"imap_password": password}, "ready", "Ready")


def fetch_floor(server: dovecot.Dovecot, count: int) -> float:
    """Seconds to fetch `count` mails by BATCH, sizes first, as the reader does, with nothing parsed."""
    client = server.client()
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["ALL"]))[:count]
    started = time.perf_counter()
    for at in range(0, len(uids), BATCH):
        chunk = uids[at : at + BATCH]
        client.fetch(chunk, ["RFC822.SIZE"])
        client.fetch(chunk, ["BODY.PEEK[]"])
    elapsed = time.perf_counter() - started
    client.logout()
    return elapsed


def throughput(services: Any, server: dovecot.Dovecot, count: int) -> tuple[float, float]:
    client = server.client()
    for raw in mixed_mails(services, count):
        client.append("INBOX", raw)
    client.logout()
    floor = fetch_floor(server, count)
    services.inbox.parser.parse(reply_mail(0, "warm-up"))  # the mail reader's process starts and imports
    server_cpu, reader_cpu = cpu_seconds(services)
    started, read = time.perf_counter(), 0
    while read < count:
        done = services.inbox.run_once(account_id=1)
        if done["error"]:
            raise SystemExit(f"{BENCH}: the inbox failed: {done['error']}")
        read += done["read"]
    elapsed = time.perf_counter() - started
    server_cpu, reader_cpu = (after - before for after, before in zip(cpu_seconds(services), (server_cpu, reader_cpu)))
    note(f"read {read} mails in {elapsed:.1f} s; fetching them alone took {floor:.1f} s")
    note(f"CPU per mail: {server_cpu / count * 1000:.2f} ms in the server (fetch, apply), "
         f"{reader_cpu / count * 1000:.2f} ms in the mail reader's process (parse); the two run side by side, so "
         f"two free cores would read {count / max(server_cpu, reader_cpu):.0f} mails/s")  # fmt: skip
    return count / elapsed, count / floor


def cpu_seconds(services: Any) -> tuple[float, float]:
    """CPU seconds used so far by this process (all its threads) and by the mail reader's process: what the
    machine's load does not change, unlike the wall clock."""
    own = psutil.Process().cpu_times()
    reader = psutil.Process(services.inbox.parser.pid()).cpu_times()
    return own.user + own.system, reader.user + reader.system


def created_times(services: Any) -> dict[str, datetime]:
    with services.db.read() as session:
        events = session.scalars(select(Event).where(Event.type == "message.created")).all()
    return {str(e.data["message"]["provider_message_id"]): e.ts for e in events}


def latency(services: Any, server: dovecot.Dovecot) -> tuple[list[float], list[float]]:
    mails = [m for m in mixed_mails(services, STREAMED * 2, start=MAILS + 1) if b"Auto-Submitted" not in m]
    mails = [m for m in mails if b"multipart/report" not in m][:STREAMED]
    stop = threading.Event()

    def keep_reading() -> None:
        while not stop.is_set():
            services.inbox.run_once(account_id=1)
            stop.wait(0.02)

    reader = threading.Thread(target=keep_reading, daemon=True)
    reader.start()
    client, appended = server.client(), {}
    for raw in mails:
        client.append("INBOX", raw)
        appended[raw.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()] = datetime.now(UTC)
        time.sleep(1 / STREAM_RATE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not set(appended) <= set(created_times(services)):
        time.sleep(0.2)
    stop.set()
    reader.join()
    created = created_times(services)
    ours = [(created[k] - at).total_seconds() * 1000 for k, at in appended.items() if k in created]
    # baseline: APPEND to a bare fetch of the new mail, polled on a second connection
    watcher, floor = server.client(), []
    watcher.select_folder("INBOX", readonly=True)
    last = max(watcher.search(["ALL"]))
    for n in range(50):
        started = time.perf_counter()
        client.append("INBOX", reply_mail(10**7 + n, "ping"))
        while True:
            watcher.noop()
            new = [u for u in watcher.search(["UID", f"{last + 1}:*"]) if u > last]
            if new:
                watcher.fetch(new, ["BODY.PEEK[]"])
                last = max(new)
                break
        floor.append((time.perf_counter() - started) * 1000)
    client.logout()
    watcher.logout()
    return ours, floor


def p99(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.99) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=MAILS)
    count = parser.parse_args().mails
    logging.basicConfig(level=logging.ERROR)
    reason = dovecot.available()
    if reason:
        raise SystemExit(f"{BENCH}: {reason}")
    note_load()
    with store("sqlite") as services, dovecot.Dovecot() as server:
        configure(services, server)
        rate, floor_rate = throughput(services, server, count)
        result(BENCH, "mails_per_s", round(rate, 1), "mails/s", round(floor_rate, 1), round(rate / floor_rate, 3))
        ours, floor = latency(services, server)
        services.inbox.parser.close()
    note(f"APPEND to message.created: p50 {statistics.median(ours):.0f} ms, p99 {p99(ours):.0f} ms over {len(ours)}")
    result(BENCH, "append_to_created_p50", round(statistics.median(ours), 1), "ms", round(statistics.median(floor), 1),
           round(statistics.median(ours) / statistics.median(floor), 2))  # fmt: skip
    result(BENCH, "append_to_created_p99", round(p99(ours), 1), "ms", round(p99(floor), 1),
           round(p99(ours) / p99(floor), 2))  # fmt: skip
    note_load()
    if rate < 200:
        note(f"{rate:.0f} mails/s is under the 200 mails/s target")


if __name__ == "__main__":
    main()
