"""A 1,000,000-recipient campaign: created through the API and run for a bounded stretch, peak RSS measured.

Contacts are inserted with one set-based INSERT ... SELECT (not part of the measurement). Then, in this process:
`POST /api/campaigns` renders and queues every recipient's message (streamed in pages), `GET /api/campaigns/<id>`
reads the live counts, and the real dispatcher sends the first BENCH_1M_SEND messages (default 20,000) to aiosmtpd
in another process, rate limits off; the campaign is then paused.
Metrics: `peak_rss` (MB, getrusage ru_maxrss of this process, target < 300; baseline = RSS before creation),
`create_rate` (recipients/s), `send_rate` (messages/s over the bounded stretch).
Size: BENCH_1M_N (default 1,000,000).
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

from _campaign_setup import SmtpProcess, configure_smtp, make_app, smtp_settings
from _common import note, result
from sqlalchemy import select, text

from backend.runtime import Runtime
from backend.store.models import Campaign

N = int(os.environ.get("BENCH_1M_N", "1000000"))
SEND = int(os.environ.get("BENCH_1M_SEND", "20000"))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def insert_contacts(services: Any, account_id: int, n: int) -> None:
    """n contacts in one statement: person{i}@example.org, `Person i`, a custom field."""
    if services.db.is_sqlite:
        series = "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :last) "
        source = "FROM n"
        fields = "json_object('city', 'City ' || i)"
        now = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    else:
        series, source = "", "FROM generate_series(0, :last) AS i"
        fields = "jsonb_build_object('city', 'City ' || i)"
        now = "(now() at time zone 'utc')"
    sql = (
        f"{series}INSERT INTO contacts (account_id, name, email, phone, fields, opted_out, created_at, updated_at) "
        f"SELECT :account, 'Person ' || i, 'person' || i || '@example.org', NULL, {fields}, false, {now}, {now} "
        f"{source}"
    )
    with services.db.write() as session:
        session.execute(text(sql), {"account": account_id, "last": n - 1})


def main() -> None:
    smtp = SmtpProcess()
    try:
        app, services, auth = make_app()
        account_id = configure_smtp(services, smtp_settings(smtp.port))
        started = time.perf_counter()
        insert_contacts(services, account_id, N)
        note(f"{N} contacts inserted in {time.perf_counter() - started:.1f} s")
        client = app.test_client()
        before = peak_rss_mb()
        body = {
            "name": "million",
            "channel": "smtp",
            "subject": "News for {{ first_name }}",
            "body": "Hello {{ name }}, see you in {{ fields.city }}.",
            "recipients": {"all": True},
        }
        started = time.perf_counter()
        answer = client.post("/api/campaigns", json=body, headers=auth)
        created_s = time.perf_counter() - started
        assert answer.status_code == 201, answer.get_json()
        campaign = answer.get_json()
        assert campaign["counts"]["total"] == N, campaign["counts"]
        note(f"campaign of {N} created in {created_s:.1f} s; peak RSS so far {peak_rss_mb():.0f} MB")

        runtime = Runtime(app)
        runtime.start()
        started = time.perf_counter()
        assert client.post(f"/api/campaigns/{campaign['id']}/start", headers=auth).status_code == 200
        while smtp.count() < SEND:
            time.sleep(0.2)
        client.post(f"/api/campaigns/{campaign['id']}/pause", headers=auth)
        sent_s = time.perf_counter() - started
        view = client.get(f"/api/campaigns/{campaign['id']}", headers=auth).get_json()
        listed = client.get("/api/campaigns", headers=auth).get_json()
        runtime.stop()
        with services.db.read() as session:
            status = session.scalar(select(Campaign.status).where(Campaign.id == campaign["id"]))
        note(f"status {status}, counts {view['counts']}, listed {listed['total']}")
        sent = view["counts"]["sent"]
        result("campaign_1m", "peak_rss", round(peak_rss_mb(), 1), "MB", round(before, 1), None)
        result("campaign_1m", "create_rate", round(N / created_s, 1), "recipients/s")
        result("campaign_1m", "send_rate", round(sent / sent_s, 1), "messages/s")
        services.db.dispose()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
