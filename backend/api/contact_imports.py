"""Contact import routes (DESIGN section 9): the preview, the import (or its dry run: the diff a user checks
first) and the undo of the latest import within a day. Every query filters on the caller's account.

- `POST /api/contacts/import/preview` (multipart `file`, optional `mapping`, `default_country`) -> columns,
  mapping, first rows, and for the phone column how many numbers have no country code and each shown row's
  number as it will be stored (`phones`), read in `default_country` (the form's, else the account's setting).
- `POST /api/contacts/import` (as DESIGN, plus optional `dry_run=1`) -> the report; with `dry_run` nothing is
  written. The report adds `unchanged`, `duplicates` (rows repeating an earlier row), `changes` (per contact,
  column by column) and `import` (the undo view).
- `GET /api/contacts/imports/latest` -> the undo view or 404; `POST /api/contacts/imports/<id>/undo`.
"""

from __future__ import annotations

import json
from typing import IO, Any

from flask import Blueprint, jsonify, request
from sqlalchemy.exc import IntegrityError

from backend.addresses import normalise_phone
from backend.contacts import import_undo, service, tags
from backend.contacts.importer import import_table
from backend.contacts.mapping import MappingError, check, suggest
from backend.contacts.reading import ImportFileError, Table, open_table
from backend.errors import ApiError, bad_request, not_found
from backend.security.guards import account_id
from backend.services import current_services

bp = Blueprint("contact_imports", __name__)
PREVIEW_ROWS = 10


def _upload() -> tuple[IO[bytes], str, int]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise bad_request("Choose a CSV or XLSX file to upload.", [{"field": "file", "reason": "missing"}])
    stream = upload.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return stream, upload.filename, size


def _table() -> tuple[Table, str]:
    stream, filename, _size = _upload()
    try:
        return open_table(stream, filename), filename
    except ImportFileError as exc:
        raise bad_request(exc.message, [{"field": "file", "reason": exc.message}]) from None


def _mapping(table: Table, *, required: bool = True) -> dict[str, str]:
    raw = request.form.get("mapping")
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        raise bad_request('`mapping` must be JSON: {"column": "field"}.') from None
    if parsed is None and not required:
        return suggest(table.columns)
    try:
        return check(table.columns, parsed)
    except MappingError as exc:
        raise bad_request("The column mapping is not valid.", exc.details) from None


def _country() -> str | None:
    given = (request.form.get("default_country") or "").strip().upper()
    if given:
        if len(given) != 2 or not given.isalpha():
            raise bad_request("`default_country` must be a two-letter country code such as US or DE.")
        return given
    return _account_country()


def _account_country() -> str | None:
    with current_services().db.read() as session:
        return service.default_country(session, account_id())


def _import_tags() -> list[str]:
    """The form's `tags`: names applied to every imported row (a JSON list, or names split on , or ;)."""
    given = [v for v in request.form.getlist("tags") if v.strip()]
    names: list[str] = []
    for value in given:
        try:
            parsed = json.loads(value) if value.lstrip().startswith("[") else None
        except ValueError:
            parsed = None
        names.extend(parsed if isinstance(parsed, list) else tags.split_names(value))
    return tags.check_names(names)


def _is_local(cell: str) -> bool:
    """A number written without its country code (no leading + or 00), which only a country can read."""
    text = cell.strip().lstrip("(")
    return any(ch.isdigit() for ch in text) and not text.startswith(("+", "00"))


@bp.post("/api/contacts/import/preview")
def import_preview() -> Any:
    table, _filename = _table()
    mapping = _mapping(table, required=False)
    country = _country()
    phone_at = next((i for i, c in enumerate(table.columns) if mapping.get(c) == "phone"), None)
    rows: list[dict[str, Any]] = []
    total = local = 0
    try:
        # Read to the end (streaming) so that the preview says how many rows the file holds.
        for number, cells in table.rows():
            total += 1
            cell = cells[phone_at] if phone_at is not None and phone_at < len(cells) else ""
            local += 1 if cell and _is_local(cell) else 0
            if len(rows) < PREVIEW_ROWS:
                item: dict[str, Any] = {"row": number, "values": dict(zip(table.columns, cells, strict=False))}
                if phone_at is not None:
                    stored, why = normalise_phone(cell, country)
                    item["phone"] = {"stored": stored, "problem": why}
                rows.append(item)
    except ImportFileError as exc:
        raise bad_request(exc.message, [{"field": "file", "reason": exc.message}]) from None
    return jsonify(
        {
            "format": table.format,
            "encoding": table.encoding,
            "delimiter": table.delimiter,
            "columns": table.columns,
            "mapping": mapping,
            "rows": rows,
            "total_rows": total,
            "phone_column": table.columns[phone_at] if phone_at is not None else None,
            "phones_without_country": local,
            "default_country": country,
            "account_country": _account_country(),
        }
    )


@bp.post("/api/contacts/import")
def import_contacts() -> Any:
    table, filename = _table()
    mapping = _mapping(table)
    country = _country()
    names = _import_tags()
    dry_run = (request.form.get("dry_run") or "").strip().lower() in ("1", "true", "yes")
    services = current_services()
    try:
        result = import_table(
            services.db, account_id(), table, mapping, country, tags=names, filename=filename, dry_run=dry_run,
            now=services.clock(),
        )  # fmt: skip
    except ImportFileError as exc:
        raise bad_request(exc.message + " Nothing was imported.", [{"field": "file", "reason": exc.message}]) from None
    except IntegrityError:
        # another writer (a second import, a new contact) took one of the file's phones or emails meanwhile
        raise ApiError(
            409, "conflict", "The contacts changed while the file was imported. Nothing was imported; try again."
        ) from None
    return jsonify(result)


@bp.get("/api/contacts/imports/latest")
def latest_import() -> Any:
    services = current_services()
    with services.db.read() as session:
        found = import_undo.latest_view(session, account_id(), services.clock())
    if found is None:
        raise not_found("An import")
    return jsonify(found)


@bp.post("/api/contacts/imports/<int:import_id>/undo")
def undo_import(import_id: int) -> Any:
    services = current_services()
    with services.db.write() as session:
        result = import_undo.undo(session, account_id(), import_id, services.clock())
    return jsonify(result)
