"""Sequences (issue 30): BENCH_SEQUENCES_N (default 100,000) active enrolments with their first step due, on SQLite
and PostgreSQL.

- `queue_rate_<db>` (step messages queued per second by the sequence job: claim, render, write), baseline = the
  dispatcher's claim rate over those same queued messages (batches of the dispatcher's largest batch), measured
  in the same run; ratio = queue / claim: at least 1 means the job keeps the dispatcher fed.
- `idle_pass_<db>` (ms per pass of the job with nothing due, enrolments all waiting), baseline = an empty write
  transaction in the same store; the issue's bound is 10 ms.
"""

from __future__ import annotations

import os
import time

from _common import note, note_load, pg_base_url, result, store
from sqlalchemy import text

from backend.accounts import get_or_create_account
from backend.dispatch.claims import claim_next
from backend.dispatch.hooks import MAX_BATCH
from backend.sequences.engine import SequenceEngine
from backend.sequences.enroll import CONTACTS, enroll
from backend.store import states
from backend.store.models import Campaign, utcnow
from tests.campaign_helpers import add_contacts

N = int(os.environ.get("BENCH_SEQUENCES_N", "100000"))
IDLE_PASSES = 50
DAY = 86400


def setup(services: object) -> tuple[int, int]:
    db = services.db  # type: ignore[attr-defined]
    with db.write() as session:
        account_id = get_or_create_account(session).id
    add_contacts(services, account_id, N)
    steps = [{"wait_s": 0, "body": "Hi {{ name }}", "subject": "Welcome", "attachments": []}]
    steps.append({"wait_s": 2 * DAY, "body": "Again, {{ name }}", "subject": "Still there?", "attachments": []})
    with db.write() as session:
        campaign = Campaign(
            account_id=account_id,
            name="bench",
            kind="sequence",
            channel="smtp",
            body="Hi",
            status=states.RUNNING,
            sequence={"steps": steps, "trigger": {"type": "manual"}, "exit_on": ["reply", "opt_out"], "reenter": False},
            recipients={},
            rate={},
            total=0,
            started_at=utcnow(),
        )
        session.add(campaign)
        session.flush()
        enrolled = enroll(session, campaign, CONTACTS.c.account_id == account_id, utcnow(), "manual")
        assert enrolled == N, enrolled
        if db.url.startswith("postgresql"):  # type: ignore[attr-defined]
            session.execute(text("ANALYZE"))
        return account_id, campaign.id


def measure(kind: str) -> None:
    with store(kind, pg_base_url() if kind == "postgresql" else None) as services:
        account_id, _ = setup(services)
        engine = SequenceEngine(services, owner="bench")
        started = time.perf_counter()
        queued = engine.run(max_batches=10**6)
        queue_s = time.perf_counter() - started
        assert queued == N, f"{queued} of {N} queued"
        started = time.perf_counter()
        claimed = 0
        while True:
            with services.db.write() as session:
                got = claim_next(
                    session,
                    account_id=account_id,
                    channel="smtp",
                    owner="bench",
                    now=utcnow(),
                    lease_s=60,
                    limit=MAX_BATCH,
                )
            if not got:
                break
            claimed += len(got)
        claim_s = time.perf_counter() - started
        assert claimed == N, claimed
        queue_rate, claim_rate = N / queue_s, N / claim_s
        note(f"{kind}: {N:,} steps queued in {queue_s:.1f} s ({queue_rate:,.0f}/s); claimed in {claim_s:.1f} s")
        result(
            "sequences",
            f"queue_rate_{kind}",
            round(queue_rate),
            "messages/s",
            round(claim_rate),
            round(queue_rate / claim_rate, 2),
        )
        started = time.perf_counter()
        for _ in range(IDLE_PASSES):
            assert engine.run() == 0
        idle_ms = (time.perf_counter() - started) / IDLE_PASSES * 1000
        started = time.perf_counter()
        for _ in range(IDLE_PASSES):
            with services.db.write() as session:
                session.execute(text("SELECT 1"))
        empty_ms = (time.perf_counter() - started) / IDLE_PASSES * 1000
        result(
            "sequences", f"idle_pass_{kind}", round(idle_ms, 2), "ms", round(empty_ms, 2), round(idle_ms / empty_ms, 2)
        )


def main() -> None:
    note_load()
    for kind in ["sqlite"] + (["postgresql"] if pg_base_url() else []):
        measure(kind)


if __name__ == "__main__":
    main()
