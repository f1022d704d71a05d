"""A 10,000-message SMTP campaign to aiosmtpd in another process, rate limits off.

Metrics (messages/s):
- `campaign_rate`: the full app (claims, fenced results, counters, events, the send journal; one write transaction
  per batch of at most 0.1 s) over the default 4 SMTP connections, from `start` to `completed`; baseline
  `raw_limit` = smtplib `sendmail` of the same prebuilt messages over one connection, the mean of a run before and
  one after the campaign; ratio = campaign / raw (target >= 0.70).
- `campaign_rate_1_connection`: the same over one connection (like for like with the baseline).
- `naive_new_connection_per_message`: smtplib with a new connection per message (the naive peer).
- `campaign_rate_with_delivery_job` (BENCH_DELIVERY_JOB=1): the campaign again with the delivery-status job on.
Size: BENCH_SMTP_N (default 10000).
"""

from __future__ import annotations

import os
import smtplib
import time
from typing import Any

from _campaign_setup import SmtpProcess, add_contacts, configure_smtp, make_app, smtp_settings
from _common import note, result
from sqlalchemy import select

from backend.channels.base import OutboundMessage
from backend.channels.email_mime import render_email
from backend.runtime import Runtime
from backend.store.models import Campaign

N = int(os.environ.get("BENCH_SMTP_N", "10000"))
NAIVE_N = min(N, 2000)
#: BENCH_DELIVERY_JOB=1: also run the campaign with the delivery-status job on (it checks sent mail).
WITH_DELIVERY_JOB = os.environ.get("BENCH_DELIVERY_JOB") == "1"


def prebuilt(n: int) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        to = f"person{i}@example.org"
        message = OutboundMessage(
            id=i,
            account_id=1,
            channel="smtp",
            recipient=to,
            subject="Hi Person",
            body=f"Hello Person {i}",
            sender_type="campaign",
        )
        out.append((to, render_email(message, "news@example.com", "Bench News").data))
    return out


def raw_rate(port: int, messages: list[tuple[str, bytes]]) -> float:
    conn = smtplib.SMTP("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    for to, data in messages:
        conn.sendmail("news@example.com", [to], data)
    elapsed = time.perf_counter() - started
    # Closed without QUIT (outside the timing either way): the fake server with delayed replies drops the 221 it
    # still owes when it closes the connection, and smtplib's quit() would then fail (smtp_latency.py).
    conn.close()
    return len(messages) / elapsed


def naive_rate(port: int, messages: list[tuple[str, bytes]]) -> float:
    started = time.perf_counter()
    for to, data in messages:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as conn:
            conn.sendmail("news@example.com", [to], data)
    return len(messages) / (time.perf_counter() - started)


def campaign_status(services: Any, campaign_id: int) -> str:
    with services.db.read() as session:
        return str(session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)))


def run_to_completion(
    app: Any, auth: dict[str, str], campaign_id: int, timeout_s: float, what: str
) -> tuple[float, Any]:
    """Start the campaign under a running runtime and wait until it completes: (seconds it took, its final view).
    Exits with a sentence naming `what` when it does not complete within `timeout_s`."""
    services, client = app.extensions["bulkmsg"], app.test_client()
    runtime = Runtime(app)
    runtime.start()
    try:
        started = time.perf_counter()
        assert client.post(f"/api/campaigns/{campaign_id}/start", headers=auth).status_code == 200
        while campaign_status(services, campaign_id) != "completed":
            if time.perf_counter() - started > timeout_s:
                raise SystemExit(f"{what} did not finish within {timeout_s:.0f} s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        return elapsed, client.get(f"/api/campaigns/{campaign_id}", headers=auth).get_json()
    finally:
        runtime.stop()
        services.db.dispose()


def campaign_rate(port: int, delivery_job: bool = False, connections: int = 4) -> float:
    app, services, auth = make_app(delivery_job=delivery_job)
    account_id = configure_smtp(services, {**smtp_settings(port), "connections": connections})
    add_contacts(services, account_id, N)
    client = app.test_client()
    body = {
        "name": "bench",
        "channel": "smtp",
        "subject": "Hi {{ first_name }}",
        "body": "Hello {{ name }}",
        "recipients": {"all": True},
    }
    campaign = client.post("/api/campaigns", json=body, headers=auth).get_json()
    runtime = Runtime(app)
    runtime.start()
    started = time.perf_counter()
    assert client.post(f"/api/campaigns/{campaign['id']}/start", headers=auth).status_code == 200
    # The status alone, read straight from the store every 20 ms: polling the API's live counts would compete
    # with the dispatcher for the interpreter (a dashboard follows the WebSocket events instead).
    while campaign_status(services, campaign["id"]) != "completed":
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    view = client.get(f"/api/campaigns/{campaign['id']}", headers=auth).get_json()
    runtime.stop()
    services.db.dispose()
    assert view["counts"]["sent"] == N, view["counts"]
    return N / elapsed


def main() -> None:
    smtp = SmtpProcess()
    try:
        messages = prebuilt(N)
        raw_before = raw_rate(smtp.port, messages)
        naive = naive_rate(smtp.port, messages[:NAIVE_N])
        full = campaign_rate(smtp.port)
        single = campaign_rate(smtp.port, connections=1)
        raw_after = raw_rate(smtp.port, messages)
        # The machine's load drifts during a run: the raw limit is measured before and after the campaign.
        raw = (raw_before + raw_after) / 2
        note(f"raw smtplib over one connection: {raw_before:.0f}/s before, {raw_after:.0f}/s after the campaign")
        if WITH_DELIVERY_JOB:
            with_job = campaign_rate(smtp.port, delivery_job=True)
            result(
                "smtp_campaign",
                "campaign_rate_with_delivery_job",
                round(with_job, 1),
                "messages/s",
                round(raw, 1),
                round(with_job / raw, 3),
            )
        result("smtp_campaign", "campaign_rate", round(full, 1), "messages/s", round(raw, 1), round(full / raw, 3))
        result(
            "smtp_campaign",
            "campaign_rate_1_connection",
            round(single, 1),
            "messages/s",
            round(raw, 1),
            round(single / raw, 3),
        )
        result(
            "smtp_campaign",
            "naive_new_connection_per_message",
            round(naive, 1),
            "messages/s",
            round(raw, 1),
            round(naive / raw, 3),
        )
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
