"""Audience counts and campaigns for a segment on N contacts with tags and custom fields (the first argument, or
BENCH_SEGMENT_CONTACTS; default 1,000,000), on SQLite and PostgreSQL (BENCH_SEGMENT_DATABASES, default
"sqlite,postgresql").

Run: .venv/bin/python bench/segments.py [contacts]   e.g. `bench/segments.py 100000` for a quick look

Metrics per store: `count_p95_<filter>_<db>` (ms): the p95 of `POST /api/segments/count`'s work (the selection's
condition, the aggregate and the sample; backend/audience/selection.count) for ten typical filters; baseline = a
bare `count(*)` of the account's contacts in the same run, ratio = new / baseline (how many times a bare count
it costs). Target: each under 1,000 ms. `campaign_create_<db>` (s): creating an SMS campaign for a segment of
100,000 contacts (N / 10) in a fresh process, and `campaign_rss_<db>` (MB): that process's peak RSS. Targets:
under 20 s and 300 MB.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import note, note_load, pg_base_url, result, store
from sqlalchemy import text

from backend.audience.selection import check_selection, condition, count
from backend.store.derived import derived
from backend.store.models import utcnow
from backend.store.search_key import search_key

N = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_SEGMENT_CONTACTS", "1000000"))
DATABASES = os.environ.get("BENCH_SEGMENT_DATABASES", "sqlite,postgresql").split(",")
RUNS = 7
CITIES = ["Lyon", "Paris", "Berlin", "Porto", "Łódź", "Zürich", "Sevilla", "Málaga", "Kraków", "Nantes"]
TAGS = ["vip", "newsletter", "lyon-fair", "b2b", "lapsed", "beta", "staff", "partner"]
COUNTRIES = [("+33", 9), ("+49", 10), ("+351", 9), ("+48", 9), ("+1212", 7)]
FILTERS: dict[str, Any] = {
    "everyone": {"all": []},
    "tag_vip": {"field": "tags", "op": "has_any", "value": ["VIP"]},
    "tags_all": {"field": "tags", "op": "has_all", "value": ["vip", "newsletter"]},
    "city_eq": {"field": "fields.city", "op": "eq", "value": "lodz"},
    "age_between": {"field": "fields.age", "op": "between", "value": [30, 40]},
    "country_in": {"field": "country", "op": "in", "value": ["FR", "DE"]},
    "name_contains": {"field": "name", "op": "contains", "value": "müll"},
    "not_opted_sms": {
        "all": [
            {"field": "opted_out.sms", "op": "is", "value": False},
            {"field": "has.phone", "op": "is", "value": True},
        ]
    },  # fmt: skip
    "recent": {"field": "created_at", "op": "within_last_days", "value": 30},
    "vip_lyon_no_lapsed": {
        "all": [
            {"field": "tags", "op": "has_any", "value": ["vip"]},
            {"field": "fields.city", "op": "eq", "value": "Lyon"},
            {"not": {"field": "tags", "op": "has_any", "value": ["lapsed"]}},
        ]
    },  # fmt: skip
}


def people(rng: random.Random) -> Any:
    first = ["Ana", "Émile", "Zoë", "Jürgen", "Chloé", "Łukasz", "María", "Søren", "Dev", "Eli"]
    last = ["Silva", "Müller", "Nowak", "Dupont", "Okafor", "García", "Rossi", "Smith"]
    now = datetime(2026, 12, 1, tzinfo=UTC)
    for i in range(1, N + 1):
        prefix, width = COUNTRIES[i % len(COUNTRIES)]
        phone = f"{prefix}6{i:0{width - 1}d}" if prefix != "+1212" else f"+1212{i:07d}"
        name = f"{rng.choice(first)} {rng.choice(last)}"
        email = f"p{i}@mail{i % 97}.example" if i % 7 else None
        fields = {"city": CITIES[i % len(CITIES)], "age": str(18 + i % 60)}
        opt_outs = '{"sms": {"at": "2026-01-01T00:00:00Z", "why": "stop"}}' if i % 50 == 0 else "{}"
        created = now - timedelta(days=i % 400)
        tags = [t for j, t in enumerate(TAGS) if (i * (j + 3)) % (j + 4) == 0] + (["seg"] if i % 10 == 0 else [])
        yield i, name, phone if i % 13 else None, email, fields, opt_outs, created, tags


def load(services: Any) -> None:
    """N contacts, their tags (about 2 each) and what filters read, written through the driver."""
    import json

    started = time.monotonic()
    with services.db.write() as session:
        for tag_id, name in enumerate([*TAGS, "seg"], start=1):
            session.execute(
                text("INSERT INTO tags (id, account_id, name, name_key, created_at) VALUES (:i, 1, :n, :n, :t)"),
                {"i": tag_id, "n": name, "t": datetime(2026, 1, 1)},
            )
        tag_ids = {name: i for i, name in enumerate([*TAGS, "seg"], start=1)}
        raw = session.connection().connection.driver_connection
        sqlite = services.db.dialect == "sqlite"
        mark = "?" if sqlite else "%s"
        insert_contact = (
            "INSERT INTO contacts (id, account_id, name, phone, email, fields, opt_outs, search_key, name_key, "
            f"country, fields_key, created_at, updated_at) VALUES ({', '.join([mark] * 13)})"
        )
        insert_tag = f"INSERT INTO contact_tags (tag_id, contact_id) VALUES ({mark}, {mark})"
        contacts: list[tuple[Any, ...]] = []
        links: list[tuple[int, int]] = []
        for i, name, phone, email, fields, opt_outs, created, tags in people(random.Random(27)):
            more = derived(name, phone, fields)
            stamp = created.replace(tzinfo=None)
            key = search_key(name, email, phone)
            shown = (more["name_key"], more["country"], json.dumps(more["fields_key"]))
            contacts.append((i, 1, name, phone, email, json.dumps(fields), opt_outs, key, *shown, stamp, stamp))
            links.extend((tag_ids[t], i) for t in tags)
            if len(contacts) >= 20_000:
                _flush(raw, sqlite, insert_contact, insert_tag, contacts, links)
        _flush(raw, sqlite, insert_contact, insert_tag, contacts, links)
    with services.db.write() as session:
        session.execute(text("ANALYZE"))
    note(f"{services.db.dialect}: {N:,} contacts with tags written in {time.monotonic() - started:.0f} s")


def _flush(raw: Any, sqlite: bool, contact_sql: str, tag_sql: str, contacts: list[Any], links: list[Any]) -> None:
    if sqlite:
        raw.executemany(contact_sql, contacts)
        raw.executemany(tag_sql, links)
    else:
        with raw.cursor() as cur:
            cur.executemany(contact_sql, contacts)
            cur.executemany(tag_sql, links)
    contacts.clear()
    links.clear()


def p95(samples: list[float]) -> float:
    return sorted(samples)[max(0, round(0.95 * len(samples)) - 1)]


def timed(services: Any, work: Any) -> list[float]:
    samples = []
    for _ in range(RUNS):
        with services.db.read() as session:
            started = time.perf_counter()
            work(session)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure_counts(services: Any, kind: str) -> None:
    baseline = p95(timed(services, lambda s: s.execute(text("SELECT count(*) FROM contacts WHERE account_id = 1"))))
    for name, tree in FILTERS.items():
        selection = check_selection({"filter": tree}, "filter")

        def work(session: Any, selection: dict[str, Any] = selection) -> None:
            found = count(session, 1, condition(session, 1, selection, utcnow()))
            assert found["total"] >= 0

        value = p95(timed(services, work))
        result(
            "segments",
            f"count_p95_{name}_{kind}",
            round(value, 1),
            "ms",
            round(baseline, 1),
            round(value / max(baseline, 0.1), 1),
        )


def _create_in_child(database_url: str, data_dir: str, queue: Any) -> None:
    from pathlib import Path

    from backend.app import create_app
    from backend.campaigns.create import create_campaign
    from backend.config import Config

    app = create_app(Config(data_dir=Path(data_dir), database_url=database_url, port=0, jobs=False, testing=True))
    services = app.extensions["bulkmsg"]
    with services.db.write() as session:
        session.execute(text("INSERT INTO segments (account_id, name, filter, created_at, updated_at) VALUES "
                             "(1, 'seg', :f, :t, :t)"), {"f": '{"field": "tags", "op": "has_any", "value": ["seg"]}',
                                                         "t": datetime(2026, 1, 1)})  # fmt: skip
        segment = session.execute(text("SELECT max(id) FROM segments")).scalar_one()
    started = time.monotonic()
    campaign_id, extra = create_campaign(services, 1, {"name": "Bench", "channel": "sms", "body": "Hi {{ name }}",
                                                       "recipients": {"segment_id": segment}})  # fmt: skip
    seconds = time.monotonic() - started
    with services.db.read() as session:
        total = session.execute(text("SELECT total FROM campaigns WHERE id = :i"), {"i": campaign_id}).scalar_one()
    queue.put((seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, total, extra))


def measure_campaign(services: Any, kind: str) -> None:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(
        target=_create_in_child, args=(services.config.database_url, str(services.config.data_dir), queue)
    )
    child.start()
    seconds, rss_mb, total, extra = queue.get(timeout=3600)
    child.join()
    note(f"{kind}: campaign for the segment: {total:,} messages, {extra}")
    result("segments", f"campaign_create_{kind}", round(seconds, 1), "s")
    result("segments", f"campaign_rss_{kind}", round(rss_mb), "MB")


def main() -> None:
    note_load()
    base = pg_base_url() if "postgresql" in DATABASES else None
    for kind in DATABASES:
        if kind == "postgresql" and base is None:
            continue
        with store(kind, base) as services:
            load(services)
            measure_counts(services, kind)
            measure_campaign(services, kind)
    note_load()


if __name__ == "__main__":
    main()
