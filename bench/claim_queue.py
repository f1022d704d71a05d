"""The dispatcher's claim of a batch (64 messages of a running campaign), on SQLite and PostgreSQL: alone, and
with a draft campaign of BENCH_CLAIM_DRAFT (default 200,000) queued messages ahead of it in the queue.

Metric `claim_behind_draft` (ms per claim), baseline = the same claim with no draft in the store, measured in
the same run; ratio = behind / alone (a claim that reads only what it takes stays near 1; one index over every
queued message made it 40 ms on SQLite and 80 ms on PostgreSQL at 200,000).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from _common import note, pg_base_url, result, store
from sqlalchemy import text

from backend.accounts import get_or_create_account
from backend.dispatch.claims import claim_next
from backend.store.models import utcnow
from tests.campaign_helpers import queue_campaign

DRAFT = int(os.environ.get("BENCH_CLAIM_DRAFT", "200000"))
RUNNING = 6400
BATCH = 64
CLAIMS = 50


def claim_ms(kind: str, draft: int) -> float:
    """Mean time of one claim (its own write transaction) of BATCH messages of the running campaign."""
    with store(kind, pg_base_url() if kind == "postgresql" else None) as services:
        with services.db.write() as session:
            account_id = get_or_create_account(session).id
        past = utcnow() - timedelta(minutes=1)
        if draft:
            queue_campaign(services, account_id, draft, status="draft", at=past)  # older: ahead in claim order
        queue_campaign(services, account_id, RUNNING, at=past + timedelta(seconds=1))
        if kind == "postgresql":
            with services.db.write() as session:
                session.execute(text("ANALYZE messages"))
        started = time.perf_counter()
        for _ in range(CLAIMS):
            with services.db.write() as session:
                claimed = claim_next(
                    session, account_id=account_id, channel="smtp", owner="bench", now=utcnow(), lease_s=60, limit=BATCH
                )
                assert len(claimed) == BATCH
        return (time.perf_counter() - started) / CLAIMS * 1000


def main() -> None:
    kinds = ["sqlite"] + (["postgresql"] if pg_base_url() else [])
    for kind in kinds:
        alone = claim_ms(kind, 0)
        behind = claim_ms(kind, DRAFT)
        note(f"{kind}: a claim of {BATCH} takes {alone:.2f} ms alone, {behind:.2f} ms behind a {DRAFT:,} draft")
        result(
            "claim_queue",
            f"claim_behind_draft_{kind}",
            round(behind, 2),
            "ms",
            round(alone, 2),
            round(behind / alone, 2),
        )


if __name__ == "__main__":
    main()
