"""An SMTP campaign against a server 25 ms of round trip away: concurrent connections and PIPELINING.

The server is aiosmtpd in its own process behind a delay line (tests/fakes/smtp_server.py `--wire-rtt 0.025`,
tests/fakes/delay_line.py): every chunk either side sends reaches the other 12.5 ms later, in order, the way a
server that far away on the network is reached (commands pipelined together travel together). Its EHLO offers
PIPELINING (RFC 2920), as real providers' do.

Metrics (messages/s), each with baseline `raw_one_connection` = smtplib `sendmail` of prebuilt messages over one
connection to the same server, measured in the same run (MAIL, RCPT, DATA and the content: four round trips):
- `campaign_rate_1_connection`, `campaign_rate_4_connections` (the default), `campaign_rate_8_connections`: the
  full app (claims, fenced results, counters, events, the send journal) from `start` to `completed`. With
  PIPELINING each message costs the campaign one round trip per connection (its content goes with the next
  message's MAIL, RCPT and DATA: backend/channels/smtp/run.py), so 4 connections can reach 16x.
Each run checks that the server got exactly the campaign's messages. Target: ratio >= 12 at 4 connections.
- `paced_campaign_rate_4_connections`: 4 connections with the campaign's own `rate.per_minute` of
  PACED_PER_MINUTE, well above what the server allows (issue 24: a pace is a rate, not a concurrency limit); its
  line `paced_vs_unpaced` has the unpaced run at 4 connections as baseline. Target: within 10% of it.
Sizes: BENCH_LATENCY_N (300) per campaign, BENCH_LATENCY_RAW_N (60) for the baseline. Bounded: each campaign
must finish within BENCH_LATENCY_TIMEOUT_S (180 s), else the run stops with a clear error.

Run: .venv/bin/python bench/smtp_latency.py
"""

from __future__ import annotations

import os
from typing import Any

from _campaign_setup import SmtpProcess, add_contacts, configure_smtp, make_app, smtp_settings
from _common import note, note_load, result
from smtp_campaign import prebuilt, raw_rate, run_to_completion

N = int(os.environ.get("BENCH_LATENCY_N", "300"))
RAW_N = int(os.environ.get("BENCH_LATENCY_RAW_N", "60"))
TIMEOUT_S = float(os.environ.get("BENCH_LATENCY_TIMEOUT_S", "180"))
WIRE_RTT_S = 0.025
CONNECTIONS = (1, 4, 8)
TARGET = 12.0
PACED_PER_MINUTE = 100_000
PACED_TOLERANCE = 0.10


def campaign_rate(server: SmtpProcess, connections: int) -> float:
    app, services, auth = make_app()
    account_id = configure_smtp(services, {**smtp_settings(server.port), "connections": connections})
    add_contacts(services, account_id, N)
    client = app.test_client()
    body: dict[str, Any] = {
        "name": f"latency {connections}",
        "channel": "smtp",
        "subject": "Hi {{ first_name }}",
        "body": "Hello {{ name }}",
        "recipients": {"all": True},
    }
    campaign = client.post("/api/campaigns", json=body, headers=auth).get_json()
    before = server.count()
    elapsed, view = run_to_completion(
        app, auth, campaign["id"], TIMEOUT_S, f"smtp_latency: the campaign over {connections} connection(s)"
    )
    arrived = server.count() - before
    if view["counts"]["sent"] != N or arrived != N:
        raise SystemExit(f"smtp_latency: {arrived} arrived and {view['counts']['sent']} sent of {N} messages")
    return N / elapsed


def main() -> None:
    note_load()
    server = SmtpProcess(wire_rtt_s=WIRE_RTT_S)
    try:
        raw = raw_rate(server.port, prebuilt(RAW_N))
        note(f"raw smtplib over one connection, {WIRE_RTT_S * 1000:.0f} ms of round trip away: {raw:.1f}/s")
        rates = {}
        for connections in CONNECTIONS:
            rate = rates[connections] = campaign_rate(server, connections)
            name = "campaign_rate_1_connection" if connections == 1 else f"campaign_rate_{connections}_connections"
            result("smtp_latency", name, round(rate, 1), "messages/s", round(raw, 1), round(rate / raw, 2))
            if connections == 4:
                verdict = "met" if rate / raw >= TARGET else "NOT met"
                note(f"target >= {TARGET:.0f}x at the default 4 connections: {verdict}")
        paced_run(server, raw, rates[4])
    finally:
        server.stop()


def paced_campaign_rate(server: SmtpProcess, connections: int) -> float:
    """The campaign over `connections` with its own `per_minute` pace far above the achievable rate."""
    app, services, auth = make_app()
    account_id = configure_smtp(services, {**smtp_settings(server.port), "connections": connections})
    add_contacts(services, account_id, N)
    body: dict[str, Any] = {
        "name": f"paced latency {connections}",
        "channel": "smtp",
        "subject": "Hi {{ first_name }}",
        "body": "Hello {{ name }}",
        "recipients": {"all": True},
        "rate": {"per_minute": PACED_PER_MINUTE},
    }
    campaign = app.test_client().post("/api/campaigns", json=body, headers=auth).get_json()
    before = server.count()
    elapsed, view = run_to_completion(app, auth, campaign["id"], TIMEOUT_S, "smtp_latency: the paced campaign")
    arrived = server.count() - before
    if view["counts"]["sent"] != N or arrived != N:
        raise SystemExit(f"smtp_latency: {arrived} arrived and {view['counts']['sent']} sent of {N} paced messages")
    return N / elapsed


def paced_run(server: SmtpProcess, raw: float, unpaced: float) -> None:
    paced = paced_campaign_rate(server, 4)
    result(
        "smtp_latency",
        "paced_campaign_rate_4_connections",
        round(paced, 1),
        "messages/s",
        round(raw, 1),
        round(paced / raw, 2),
    )
    result(
        "smtp_latency", "paced_vs_unpaced", round(paced, 1), "messages/s", round(unpaced, 1), round(paced / unpaced, 2)
    )
    verdict = "met" if paced / unpaced >= 1 - PACED_TOLERANCE else "NOT met"
    note(
        f"paced at {PACED_PER_MINUTE}/min: {paced / raw:.2f}x vs unpaced {unpaced / raw:.2f}x of raw; "
        f"within {PACED_TOLERANCE:.0%}: {verdict}"
    )


if __name__ == "__main__":
    main()
