"""Contact routes (DESIGN section 9) and the public unsubscribe link. Every query filters on the caller's account."""

from __future__ import annotations

import json
import re
from typing import IO, Any

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy.exc import IntegrityError

from backend.api.core import int_arg
from backend.campaigns.unsubscribe import read_unsubscribe_token
from backend.contacts import listing, optouts, service, tags
from backend.contacts.importer import import_table
from backend.contacts.mapping import MappingError, check, suggest
from backend.contacts.reading import ImportFileError, Table, open_table
from backend.errors import ApiError, bad_request, json_body
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store.models import Contact

bp = Blueprint("contacts", __name__)
PREVIEW_ROWS = 10


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)


def services() -> Services:
    return current_services()


def _upload() -> tuple[IO[bytes], str, int]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise bad_request("Choose a CSV or XLSX file to upload.", [{"field": "file", "reason": "missing"}])
    stream = upload.stream
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return stream, upload.filename, size


def _table() -> tuple[Table, int]:
    stream, filename, size = _upload()
    try:
        return open_table(stream, filename), size
    except ImportFileError as exc:
        raise bad_request(exc.message, [{"field": "file", "reason": exc.message}]) from None


def _mapping(table: Table) -> dict[str, str]:
    raw = request.form.get("mapping")
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        raise bad_request('`mapping` must be JSON: {"column": "field"}.') from None
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
    with services().db.read() as session:
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


@bp.post("/api/contacts/import/preview")
def import_preview() -> Any:
    table, _size = _table()
    rows: list[dict[str, Any]] = []
    total = 0
    try:
        # Read to the end (streaming) so that the preview says how many rows the file holds.
        for number, cells in table.rows():
            total += 1
            if len(rows) < PREVIEW_ROWS:
                rows.append({"row": number, "values": dict(zip(table.columns, cells, strict=False))})
    except ImportFileError as exc:
        raise bad_request(exc.message, [{"field": "file", "reason": exc.message}]) from None
    return jsonify(
        {
            "format": table.format,
            "encoding": table.encoding,
            "delimiter": table.delimiter,
            "columns": table.columns,
            "mapping": suggest(table.columns),
            "rows": rows,
            "total_rows": total,
        }
    )


@bp.post("/api/contacts/import")
def import_contacts() -> Any:
    table, size = _table()
    mapping = _mapping(table)
    country = _country()
    names = _import_tags()
    try:
        result = import_table(services().db, account_id(), table, mapping, country, tags=names)
    except ImportFileError as exc:
        raise bad_request(exc.message + " Nothing was imported.", [{"field": "file", "reason": exc.message}]) from None
    except IntegrityError:
        # another writer (a second import, a new contact) took one of the file's phones or emails meanwhile
        raise ApiError(
            409, "conflict", "The contacts changed while the file was imported. Nothing was imported; try again."
        ) from None
    return jsonify(result)


@bp.get("/api/contacts")
def list_contacts() -> Any:
    limit = int_arg("limit", default=100, low=1, high=1000)
    offset = int_arg("offset", default=0, low=0)
    selection = listing.selection_of(request.args)
    with services().db.read() as session:
        if selection is None:
            rows, total = service.search(session, account_id(), request.args.get("q"), limit, offset)
        else:
            rows, total = listing.page(session, account_id(), selection, request.args.get("q"), limit, offset)
        names = tags.tags_by_contact(session, [c.id for c in rows])
        return jsonify({"items": [service.contact_view(c, names[c.id]) for c in rows], "total": total})


@bp.post("/api/contacts")
def create_contact() -> Any:
    body = json_body()
    with services().db.write() as session:
        contact = Contact(account_id=account_id(), name="", fields={})
        service.apply_changes(session, account_id(), contact, {"name": "", **body})
        session.add(contact)
        service.save(session)
        service.apply_tags(session, contact, body)
        view = service.contact_view(contact)
    return jsonify(view), 201


@bp.get("/api/contacts/<int:contact_id>")
def get_contact(contact_id: int) -> Any:
    with services().db.read() as session:
        return jsonify(service.contact_view(service.load(session, account_id(), contact_id)))


@bp.patch("/api/contacts/<int:contact_id>")
def patch_contact(contact_id: int) -> Any:
    body = json_body()
    with services().db.write() as session:
        contact = service.load(session, account_id(), contact_id)
        service.apply_changes(session, account_id(), contact, body)
        service.save(session)
        service.apply_tags(session, contact, body)
        view = service.contact_view(contact)
    return jsonify(view)


@bp.delete("/api/contacts/<int:contact_id>")
def delete_contact(contact_id: int) -> Any:
    with services().db.write() as session:
        session.delete(service.load(session, account_id(), contact_id))
    return Response(status=204)


@bp.post("/api/contacts/<int:contact_id>/opt-out")
def opt_out(contact_id: int) -> Any:
    """Body (optional) {"family": "sms"|"email"|"whatsapp"|"all"}: by hand, everything by default."""
    family = _family()
    with services().db.write() as session:
        contact = service.load(session, account_id(), contact_id)
        cancelled = service.opt_out(services(), session, contact, family, "by_hand")
        view = service.contact_view(contact)
    return jsonify({**view, "cancelled_messages": cancelled})


@bp.post("/api/contacts/<int:contact_id>/opt-in")
def opt_in(contact_id: int) -> Any:
    """Body (optional) {"family": ...}: the contact may get messages of that family (everything by default) again."""
    family = _family()
    with services().db.write() as session:
        contact = service.load(session, account_id(), contact_id)
        optouts.opt_in(services().hub, session, contact, family)
        view = service.contact_view(contact)
    return jsonify(view)


def _family() -> str:
    if not request.content_length:
        return optouts.ALL
    raw = json_body().get("family", optouts.ALL)
    family = optouts.check_family(raw)
    if family is None:
        raise bad_request(
            "`family` must be sms, email, whatsapp or all.", [{"field": "family", "reason": "unknown family"}]
        )
    return family


#: what an unsubscribe token looks like: `<account>.<contact>.<mac>` in ASCII (anything else is not ours).
UNSUBSCRIBE_TOKEN = re.compile(r"^[0-9]{1,19}\.[0-9]{1,19}\.[A-Za-z0-9_-]{1,128}$")
_UNSUBSCRIBE_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Unsubscribe</title></head>
<body><main><h1>Unsubscribe</h1>
<p>Press the button to stop getting emails from us.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form></main></body></html>
"""
_UNSUBSCRIBED_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Unsubscribed</title></head>
<body><main><h1>Unsubscribed</h1><p>You are unsubscribed and will get no more emails from us.</p></main></body></html>
"""


def _unsubscribe_target(token: str) -> tuple[int, int]:
    found = read_unsubscribe_token(services().keys.jwt_key, token) if UNSUBSCRIBE_TOKEN.match(token) else None
    if found is None:
        raise ApiError(404, "not_found", "This unsubscribe link is not valid.")
    return found


@bp.get("/unsubscribe/<token>")
def unsubscribe_page(token: str) -> Any:
    """The List-Unsubscribe link opened by a person, a mail scanner or a link preview: a page with a button.
    Nothing changes on GET, so scanners and previews never unsubscribe anyone."""
    _unsubscribe_target(token)
    page = Response(_UNSUBSCRIBE_PAGE, mimetype="text/html")
    # Under `no-referrer` a browser posts the form with `Origin: null`, which the Origin guard refuses.
    page.headers["Referrer-Policy"] = "same-origin"
    return page


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str) -> Any:
    """The page's button, or a mail provider's RFC 8058 one-click POST (`List-Unsubscribe=One-Click`)."""
    account, contact_id = _unsubscribe_target(token)
    with services().db.write() as session:
        contact = session.get(Contact, contact_id)
        if contact is not None and contact.account_id == account:
            service.opt_out(services(), session, contact, "email", "unsubscribe")
    return Response(_UNSUBSCRIBED_PAGE, mimetype="text/html")
