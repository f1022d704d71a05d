"""Contact search on BENCH_SEARCH_CONTACTS (default 1,000,000) contacts with names from many languages, on
SQLite and PostgreSQL: what the Contacts, Compose and Conversations screens ask (`GET /api/contacts?q=`: one page
of 25 and the total), for prefixes of first names, last names, emails and phone numbers typed without accents.

Metric `search_p95_<db>` (ms): the 95th percentile of the folded, indexed search (backend/contacts/search_index);
baseline = the p95 of the LIKE query it replaced (lower(name) LIKE '%q%' OR phone LIKE OR email LIKE; it folds
ASCII only), on the same store in the same run; ratio = baseline / new. `search_cpu_p95_sqlite`: the same
queries' own CPU time (SQLite runs in-process; on a shared machine the wall clock also counts waiting for a core).
Fails if the new p95 passes 50 ms, or if the run passes BENCH_SEARCH_TIMEOUT_S (default 1,500 s).
BENCH_SEARCH_DATABASES (default "sqlite,postgresql") picks the stores. On PostgreSQL the store is measured as the
app leaves it after a large import (`search_index.tidy`, a VACUUM ANALYZE); a note gives the figure before it.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import time
from typing import Any

from _common import note, note_load, pg_base_url, result, store
from sqlalchemy import func, or_, select, text

from backend.contacts.search_index import search, tidy
from backend.store.models import Contact
from backend.store.search_key import fold, search_key, terms

N = int(os.environ.get("BENCH_SEARCH_CONTACTS", "1000000"))
TIMEOUT_S = int(os.environ.get("BENCH_SEARCH_TIMEOUT_S", "1500"))
QUERIES = 300
BASELINE_QUERIES = 20
UNSETTLED_QUERIES = 40
LIMIT_MS = 50.0
FIRST = [
    "Émile",
    "Zoë",
    "Łukasz",
    "Ångström",
    "Søren",
    "Ólafur",
    "Chloé",
    "José",
    "María",
    "Renée",
    "Jürgen",
    "Björn",
    "Ærin",
    "Œdipe",
    "Dmitri",
    "Agnieszka",
    "Siobhán",
    "Ana",
    "Ben",
    "Chen",
    "Dev",
    "Eli",
    "Fatima",
    "Giulia",
    "Hana",
    "Ines",
    "Jana",
    "Kofi",
    "Lena",
    "Mateo",
    "Noah",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sami",
    "Tomás",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zainab",
    "Åsa",
    "Ödön",
    "Ştefan",
    "Đorđe",
    "Zoltán",
    "Ibrahim",
    "Akira",
    "Sofía",
    "Nuño",
    "Gaël",
    "Maël",
    "Loïc",
    "Hélène",
]
LAST = [
    "Müller",
    "Nowak",
    "Kierkegaard",
    "Straße",
    "Okafor",
    "Nguyen",
    "Smith",
    "Silva",
    "García",
    "Łęcki",
    "Öztürk",
    "Dvořák",
    "Håkansson",
    "Ødegaard",
    "Fernández",
    "Rossi",
    "Kowalski",
    "Johansson",
    "Novák",
    "Horváth",
    "Papadopoulos",
    "Yılmaz",
    "Kim",
    "Tanaka",
    "Sato",
    "Ivanov",
    "Petrović",
    "Lefèvre",
    "Brontë",
    "Æbelø",
    "Gonçalves",
    "Núñez",
    "Ruiz",
    "Weiß",
    "Schäfer",
    "Jensen",
    "Virtanen",
    "Murphy",
    "O'Brien",
    "Dupont",
    "Moreau",
]


def rows(rng: random.Random) -> Any:
    for i in range(1, N + 1):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        email = f"{fold(name).replace(' ', '.')}{i}@mail{i % 97}.example"
        phone = f"+1{rng.randrange(200, 999)}{i:07d}"
        yield i, name, email, phone


def load(services: Any) -> None:
    """Write N contacts and their index terms straight through the driver (the API would take hours)."""
    rng = random.Random(16)
    started = time.monotonic()
    with services.db.write() as session:
        raw = session.connection().connection.driver_connection
        if services.db.dialect == "sqlite":
            # The load only: a cache that holds the term index while it is built.
            raw.execute("PRAGMA cache_size = -800000")
            batch_c: list[tuple[Any, ...]] = []
            batch_t: list[tuple[Any, ...]] = []
            for i, name, email, phone in rows(rng):
                batch_c.append((i, name, phone, email, search_key(name, email, phone)))
                batch_t.extend((1, term, i) for term in terms(name, email, phone))
                if len(batch_c) >= 50_000:
                    _sqlite_flush(raw, batch_c, batch_t)
            _sqlite_flush(raw, batch_c, batch_t)
        else:
            with raw.cursor() as cur:
                with cur.copy(
                    "COPY contacts (id, account_id, name, phone, email, fields, search_key, "
                    "created_at, updated_at) FROM STDIN"
                ) as copy:
                    for i, name, email, phone in rows(rng):
                        copy.write_row(
                            (
                                i,
                                1,
                                name,
                                phone,
                                email,
                                "{}",
                                search_key(name, email, phone),
                                "2026-01-01",
                                "2026-01-01",
                            )
                        )
                with cur.copy("COPY contact_terms (account_id, term, contact_id) FROM STDIN") as copy:
                    for i, name, email, phone in rows(random.Random(16)):
                        for term in terms(name, email, phone):
                            copy.write_row((1, term, i))
    with services.db.write() as session:
        session.execute(text("ANALYZE"))
    note(f"{services.db.dialect}: {N:,} contacts written and indexed in {time.monotonic() - started:.0f} s")


def settle(services: Any, qs: list[str]) -> None:
    """PostgreSQL: a few queries on the freshly written table (for the record), then what the app does after a
    large import (`tidy`: VACUUM ANALYZE, so that searches read the index alone)."""
    if services.db.dialect != "postgresql":
        return
    before = timed(services, lambda s, q: search(s, 1, q, 25, 0), qs[:UNSETTLED_QUERIES])
    started = time.monotonic()
    tidy(services.db)
    note(
        f"postgresql: before the vacuum p50 {statistics.median(before):.0f} ms, p95 {p95(before):.0f} ms over "
        f"{len(before)} queries; the vacuum took {time.monotonic() - started:.1f} s"
    )


def _sqlite_flush(raw: Any, contacts: list[tuple[Any, ...]], term_rows: list[tuple[Any, ...]]) -> None:
    raw.executemany(
        "INSERT INTO contacts (id, account_id, name, phone, email, fields, search_key, created_at, "
        "updated_at) VALUES (?, 1, ?, ?, ?, '{}', ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        contacts,
    )
    raw.executemany("INSERT INTO contact_terms (account_id, term, contact_id) VALUES (?, ?, ?)", term_rows)
    contacts.clear()
    term_rows.clear()


def queries(rng: random.Random, n: int) -> list[str]:
    """What people type: the start of a first or last name (without its accents), an email or a phone number."""
    out = []
    for _ in range(n):
        kind = rng.random()
        if kind < 0.5:
            word = rng.choice(FIRST)
        elif kind < 0.8:
            word = rng.choice(LAST)
        elif kind < 0.9:
            word = f"{fold(rng.choice(FIRST))}.{fold(rng.choice(LAST))}"
        else:  # a number is typed further than a name before it narrows anything: area code and more
            word = f"+1{rng.randrange(200, 999)}{rng.randrange(0, N):07d}"
        shortest = 7 if word.startswith("+") else 3
        typed = word[: rng.randint(shortest, max(shortest, len(word)))]
        out.append(typed.lower() if rng.random() < 0.5 else typed)
    return out


def old_like(session: Any, q: str) -> None:
    like = f"%{q.strip().lower()}%"
    query = (
        select(Contact)
        .where(Contact.account_id == 1)
        .where(or_(func.lower(Contact.name).like(like), Contact.phone.like(like), Contact.email.like(like)))
    )
    session.scalar(select(func.count()).select_from(query.subquery()))
    list(session.scalars(query.order_by(Contact.id).limit(25)))


def timed(services: Any, run: Any, qs: list[str], cpu: list[float] | None = None) -> list[float]:
    """Wall-clock ms per query; `cpu` collects this process's CPU ms (SQLite works in-process, so on a busy
    machine that is the query's own cost, free of the time spent waiting for a core)."""
    times = []
    for q in qs:
        with services.db.read() as session:
            started, cpu_started = time.perf_counter(), time.process_time()
            run(session, q)
            times.append((time.perf_counter() - started) * 1000)
            if cpu is not None:
                cpu.append((time.process_time() - cpu_started) * 1000)
    return times


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


def measure(kind: str) -> float:
    with store(kind, pg_base_url() if kind == "postgresql" else None) as services:
        load(services)
        rng = random.Random(42)
        qs = queries(rng, QUERIES)
        settle(services, qs)
        timed(services, lambda s, q: search(s, 1, q, 25, 0), qs[:20])  # warm the cache
        cpu: list[float] = []
        new = timed(services, lambda s, q: search(s, 1, q, 25, 0), qs, cpu)
        slowest = sorted(zip(new, qs, strict=True), reverse=True)[:5]
        note(f"{kind}: slowest queries " + ", ".join(f"{q!r} {ms:.0f} ms" for ms, q in slowest))
        old = timed(services, old_like, qs[:BASELINE_QUERIES])
        with services.db.read() as session:
            found, total = search(session, 1, "EMILE", 25, 0)
            assert total > 0 and all(c.name.startswith("Émile") for c in found), "accent folding broke"
        note(
            f"{kind}: folded search p50 {statistics.median(new):.1f} ms, p95 {p95(new):.1f} ms, max {max(new):.1f} ms "
            f"over {len(new)} queries; LIKE p50 {statistics.median(old):.0f} ms, p95 {p95(old):.0f} ms"
        )
        if kind == "sqlite":  # in-process: the queries' own CPU time, whatever else the machine runs
            note(f"sqlite: folded search CPU p50 {statistics.median(cpu):.1f} ms, p95 {p95(cpu):.1f} ms")
            result("contact_search", "search_cpu_p95_sqlite", round(p95(cpu), 2), "ms", None, None)
        result(
            "contact_search",
            f"search_p95_{kind}",
            round(p95(new), 2),
            "ms",
            round(p95(old), 2),
            round(p95(old) / p95(new), 1),
        )
        return p95(new)


def _timeout(_signum: int, _frame: Any) -> None:
    raise SystemExit(f"contact_search: gave up after {TIMEOUT_S} s (BENCH_SEARCH_TIMEOUT_S)")


def main() -> None:
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(TIMEOUT_S)
    note_load()
    slow = []
    wanted = os.environ.get("BENCH_SEARCH_DATABASES", "sqlite,postgresql").split(",")
    kinds = [k for k in ("sqlite", "postgresql") if k in wanted and (k == "sqlite" or pg_base_url())]
    for kind in kinds:
        if measure(kind) > LIMIT_MS:
            slow.append(kind)
    signal.alarm(0)
    if slow:
        raise SystemExit(f"contact_search: p95 over {LIMIT_MS:.0f} ms on {', '.join(slow)}")


if __name__ == "__main__":
    main()
