"""Importing a 100,000-row CSV (name, phone, email, city) with phone (E.164, default country US) and email
checks into the store (SQLite). Metric `import_rows_per_s` with the checks in worker processes; baseline: the same
import in one process. Target >= 15,000 rows/s (the best-known peer: about 10,000/s). Size: BENCH_IMPORT_ROWS."""

from __future__ import annotations

import os
import random
import tempfile
import time
from pathlib import Path

from _campaign_setup import make_app
from _common import note, result

from backend.contacts.importer import import_table
from backend.contacts.mapping import suggest
from backend.contacts.reading import open_table

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("Name,Phone,Email,City\n")
        for i in range(rows):
            area = rng.choice(("202", "212", "415", "312"))
            number = f"{rng.randint(200, 999)}{i % 10000:04d}"
            phone = f"({area}) {number[:3]}-{number[3:]}" if i % 2 else f"+1 {area} {number[:3]} {number[3:]}"
            out.write(f"Person {i},{phone},person{i}@example.org,City {i % 100}\n")


def run(path: Path, parallel: bool) -> float:
    _app, services, _auth = make_app(jobs=False)
    with path.open("rb") as stream:
        table = open_table(stream, path.name)
        started = time.perf_counter()
        outcome = import_table(services.db, 1, table, suggest(table.columns), "US", parallel=parallel)
        elapsed = time.perf_counter() - started
    services.db.dispose()
    note(
        f"parallel={parallel}: imported {outcome['imported']}, updated {outcome['updated']}, "
        f"skipped {outcome['skipped']} in {elapsed:.1f}s"
    )
    return ROWS / elapsed


def main() -> None:
    path = Path(tempfile.mkdtemp()) / "contacts.csv"
    write_csv(path, ROWS)
    sequential = run(path, parallel=False)
    parallel = run(path, parallel=True)
    result(
        "import",
        "import_rows_per_s",
        round(parallel, 1),
        "rows/s",
        round(sequential, 1),
        round(parallel / sequential, 3),
    )


if __name__ == "__main__":
    main()
