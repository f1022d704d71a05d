"""Importing contacts from a Table into the store, all or nothing.

Contract: `import_table(db, account_id, table, mapping, default_country)` -> {"imported", "updated", "skipped",
"errors": [{"row", "column", "reason"}]}; raises ImportFileError (nothing written) when the file cannot be read
to its end, has no rows under its header, or has no phone or email column.

Two passes, so that the write transaction is short and opens only once the whole file has been read:
1. Read and check: rows are checked in chunks (phones to E.164 with the default country, emails with
   email-validator, no DNS), in 2 worker processes when `parallel` (on 2 busy cores the pool's start-up and
   pickling cost more than it saves: bench/import.py measures both, and the route runs in-process); checked
   records are pickled chunk by chunk into an anonymous temporary file. Memory holds one chunk (plus the
   pool's few in flight), never the file.
2. Write: ONE write transaction replays the spooled chunks through `merge.write_chunk` (bulk statements).
A file that turns out to be unreadable half-way fails in pass 1, before anything is written.

Duplicates merge (see `merge`). A rejected row is reported with its number, column and reason, and counted in
`skipped`; a row with more non-empty cells than the header has columns is rejected (its values slid).
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import IO, Any

from backend.addresses import normalise_email, normalise_phone, reserved_for_tests
from backend.campaigns.zones import normalise_timezone
from backend.contacts import search_index
from backend.contacts.import_tags import tag_ids, tag_records
from backend.contacts.merge import Record, Result, write_chunk
from backend.contacts.reading import ImportFileError, Table
from backend.contacts.tags import split_names
from backend.security.limits import field_problems
from backend.store.models import utcnow

log = logging.getLogger(__name__)

CHUNK = 5000
IN_FLIGHT = 4
WORKERS = 2

Plan = list[tuple[int, str, str]]  # (cell index, column name, field)
Problem = tuple[int, str | None, str]


def plan_of(table: Table, mapping: dict[str, str]) -> Plan:
    plan = [(i, col, mapping[col]) for i, col in enumerate(table.columns) if mapping.get(col, "skip") != "skip"]
    if not any(target in ("phone", "email") for _i, _c, target in plan):
        raise ImportFileError(
            "No column holds phone numbers or email addresses, so this file cannot be imported as contacts. "
            "Map a column to phone or email."
        )
    return plan


def check_rows(
    rows: list[tuple[int, list[str]]], plan: Plan, country: str | None, width: int
) -> tuple[list[Record], list[Problem]]:
    """Turn raw rows into Records; returns (records, [(row, column, reason)]). Runs in worker processes."""
    records: list[Record] = []
    problems: list[Problem] = []
    for number, cells in rows:
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            reason = f"this row has {len(cells)} cells but the header has {width} (an unquoted delimiter?)"
            problems.append((number, None, reason))
            continue
        values = {"phone": "", "email": "", "name": "", "first_name": "", "last_name": "", "timezone": "", "tags": ""}
        columns: dict[str, str] = {}
        custom: dict[str, str] = {}
        for index, column, target in plan:
            cell = cells[index].strip() if index < len(cells) else ""
            if target.startswith("fields."):
                if cell:
                    custom[target[7:]] = cell
            else:
                values[target], columns[target] = cell, column
        phone, phone_problem = normalise_phone(values["phone"], country)
        email, email_problem = normalise_email(values["email"])
        # A bad phone or email is dropped from the row, not the whole row: the row is kept when the other one
        # is good, and the dropped value is reported against its column (a note, since the row was imported).
        if phone_problem:
            problems.append((number, columns.get("phone"), phone_problem))
        if email_problem:
            problems.append((number, columns.get("email"), email_problem))
        if not phone and not email:
            if not phone_problem and not email_problem:
                problems.append((number, None, "no phone number or email address"))
            continue
        if reserved_for_tests(email):
            problems.append(
                (
                    number,
                    columns.get("email"),
                    f"{email} is on a domain reserved for tests: mail to it is never delivered",
                )
            )
        for part in ("first_name", "last_name"):
            if values[part]:
                custom[part] = values[part]
        too_big = field_problems(custom)
        if too_big:
            problems.append((number, too_big[0]["field"], too_big[0]["reason"]))
            continue
        zone, zone_problem = normalise_timezone(values["timezone"])
        if zone_problem:  # the contact is kept without a zone; the cell is reported against its column
            problems.append((number, columns.get("timezone"), zone_problem))
        name = values["name"] or f"{values['first_name']} {values['last_name']}".strip()
        records.append(Record(number, phone, email, name[:200], custom, zone, split_names(values["tags"])))
    return records, problems


def import_table(
    db: Any,
    account_id: int,
    table: Table,
    mapping: dict[str, str],
    country: str | None,
    *,
    parallel: bool = False,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """Import the table; `tags` (names) go on every imported row, beside a column mapped to `tags`."""
    plan = plan_of(table, mapping)
    result = Result()
    with tempfile.TemporaryFile(prefix="bulkmsg-import-") as spool:
        chunks = _check_into(spool, table, plan, country, parallel, result)
        spool.seek(0)
        now = utcnow()
        # A bigger SQLite page cache for this transaction was measured: no faster, 70 MB more at peak.
        with db.write() as session:
            common = tag_ids(session, account_id, tags or [])
            for _ in range(chunks):
                # our own spool, written above by this process: nothing untrusted is unpickled
                rows = pickle.load(spool)  # noqa: S301
                # (no name keeps this chunk's records alive while the next one is read)
                tag_records(
                    session,
                    account_id,
                    write_chunk(session, account_id, [Record(*r) for r in rows], result, now),
                    common,
                )
    outcome = result.as_dict()
    if outcome["imported"] + outcome["updated"] >= search_index.TIDY_AFTER_CONTACTS:
        search_index.tidy_soon(db)
    log.info(
        "import into account %s: %s imported, %s updated, %s skipped",
        account_id,
        outcome["imported"],
        outcome["updated"],
        outcome["skipped"],
    )
    return outcome


def _check_into(spool: IO[bytes], table: Table, plan: Plan, country: str | None, parallel: bool, result: Result) -> int:
    """Pass 1: check every row, pickle each chunk's records into `spool`; returns the number of chunks."""
    chunks = seen = 0
    for records, problems, size in _checked_chunks(table, plan, country, parallel):
        seen += size
        kept = {r.row for r in records}
        # A row counts once: rejected when no record came of it, otherwise its problems are notes on what was dropped.
        result.skipped += len({p[0] for p in problems} - kept)
        for r, c, why in problems:
            (result.warnings if r in kept else result.errors).append({"row": r, "column": c, "reason": why})
        if records:
            rows = [(r.row, r.phone, r.email, r.name, r.fields, r.timezone, r.tags) for r in records]
            pickle.dump(rows, spool, protocol=pickle.HIGHEST_PROTOCOL)
            chunks += 1
    if seen == 0:
        raise ImportFileError("The file has only a header row: there are no contacts under its header.")
    return chunks


def _chunks(table: Table) -> Iterator[list[tuple[int, list[str]]]]:
    chunk: list[tuple[int, list[str]]] = []
    for item in table.rows():
        chunk.append(item)
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked_chunks(
    table: Table, plan: Plan, country: str | None, parallel: bool
) -> Iterator[tuple[list[Record], list[Problem], int]]:
    width = len(table.columns)
    if not parallel:
        for chunk in _chunks(table):
            yield (*check_rows(chunk, plan, country, width), len(chunk))
        return
    # Spawned (not forked) workers: this process runs threads whose locks a fork would copy mid-use.
    with ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[tuple[Future[tuple[list[Record], list[Problem]]], int]] = deque()
        for chunk in _chunks(table):
            pending.append((pool.submit(check_rows, chunk, plan, country, width), len(chunk)))
            if len(pending) >= IN_FLIGHT:
                future, size = pending.popleft()
                yield (*future.result(), size)
        while pending:
            future, size = pending.popleft()
            yield (*future.result(), size)
