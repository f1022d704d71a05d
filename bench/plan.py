"""The send plan of a large campaign (issue 24): 100,000 recipients in 40 time zones, a weekday window
09:00-20:00 in each recipient's zone, a daily cap of 20,000 and a pace of 600 a minute.

Metrics (seconds, the median of BENCH_PLAN_REPEAT answers):
- `campaign_plan_s`: `GET /api/campaigns/<id>/plan` for the created campaign (its messages grouped by zone in SQL,
  then the event-driven simulation). Target: under 1 s.
- `draft_plan_s`: `POST /api/campaigns/plan` for the same campaign as a draft (its recipients counted in SQL by
  their contacts' zones, nothing written). Target: under 1 s. `first_draft_plan_s`: the first one, timed once
  before anything else (with BENCH_PLAN_ZONES=phone, before any number's zone is remembered).
Baseline for both: `GET /api/campaigns/<id>` (the campaign's view with its live counts) in the same run.
Sizes: BENCH_PLAN_N (100,000) recipients. BENCH_PLAN_ZONES=phone gives the contacts no time zone of their own (every
zone then comes from the phone number, one by one: about 0.1-0.3 ms a number), to measure that case.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import available_timezones

from _campaign_setup import make_app
from _common import note, note_load, result
from sqlalchemy import insert

from backend.accounts import get_or_create_account
from backend.store.models import ChannelConfig, Contact, utcnow

N = int(os.environ.get("BENCH_PLAN_N", "100000"))
REPEAT = int(os.environ.get("BENCH_PLAN_REPEAT", "5"))
FROM_PHONE = os.environ.get("BENCH_PLAN_ZONES") == "phone"
ZONES = sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "posix/", "right/")))[::9][
    :40
]
WINDOW = {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "20:00", "timezone": "recipient"}
TARGET_S = 1.0


def setup() -> tuple[Any, dict[str, str], dict[str, Any]]:
    app, services, auth = make_app()
    now = utcnow()
    with services.db.write() as session:
        account_id = get_or_create_account(session, "default").id
        settings = {"account_sid": "AC" + "0" * 32, "from_number": "+15005550006", "api_base_url": "http://127.0.0.1:9"}
        session.add(ChannelConfig(account_id=account_id, channel="sms", settings=settings, state="ready"))
        rows = [
            {
                "account_id": account_id,
                "name": f"Person {i}",
                "phone": f"+1415{2_000_000 + i:07d}",  # valid San Francisco numbers (one zone)
                "timezone": None if FROM_PHONE else ZONES[i % len(ZONES)],
                "fields": {},
                "created_at": now,
                "updated_at": now,
            }
            for i in range(N)
        ]
        for start in range(0, N, 10_000):
            session.execute(insert(Contact), rows[start : start + 10_000])
    body = {
        "name": "Plan",
        "channel": "sms",
        "body": "Hi {{ name }}",
        "recipients": {"all": True},
        "rate": {"per_minute": 600, "daily_cap": 20_000},
        "send_window": WINDOW,
    }
    return app, auth, body


def timed(call: Any) -> float:
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise SystemExit(f"plan: HTTP {answer.status_code}: {answer.get_data(as_text=True)[:300]}")
    return statistics.median(times)


def main() -> None:
    note_load()
    app, auth, body = setup()
    client = app.test_client()
    started = time.perf_counter()  # the first plan of the audience: no phone number's zone remembered yet
    if client.post("/api/campaigns/plan", json=body, headers=auth).status_code != 200:
        raise SystemExit("plan: the first draft plan failed")
    cold_s = time.perf_counter() - started
    created = client.post("/api/campaigns", json=body, headers=auth)
    if created.status_code != 201:
        raise SystemExit(f"plan: the campaign was not created: {created.get_data(as_text=True)[:300]}")
    campaign_id = created.get_json()["id"]
    view_s = timed(lambda: client.get(f"/api/campaigns/{campaign_id}", headers=auth))
    plan_s = timed(lambda: client.get(f"/api/campaigns/{campaign_id}/plan", headers=auth))
    draft_s = timed(lambda: client.post("/api/campaigns/plan", json=body, headers=auth))
    plan = client.get(f"/api/campaigns/{campaign_id}/plan", headers=auth).get_json()
    days = ", ".join(f"{d['date']}: {d['count']:,}" for d in plan["days"][:4])
    note(f"{N:,} recipients in {len(ZONES)} zones at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {days} ...")
    note(f"finish_at {plan['finish_at']}, held_by {plan['held_by']}")
    result("plan", "campaign_plan_s", round(plan_s, 3), "s", round(view_s, 3), round(plan_s / view_s, 2))
    result("plan", "draft_plan_s", round(draft_s, 3), "s", round(view_s, 3), round(draft_s / view_s, 2))
    result("plan", "first_draft_plan_s", round(cold_s, 3), "s", round(view_s, 3), round(cold_s / view_s, 2))
    note(f"target: the campaign's plan under {TARGET_S:.0f} s: {'met' if plan_s < TARGET_S else 'NOT met'}")
    note(f"target: the draft's plan under {TARGET_S:.0f} s: {'met' if draft_s < TARGET_S else 'NOT met'}")


if __name__ == "__main__":
    main()
