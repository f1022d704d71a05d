"""Tags, segments, the audience count and bulk tagging (DESIGN section 14). Every query holds the caller's account."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify

from backend.audience import selection as audience
from backend.contacts import segments, tags
from backend.contacts.service import contact_view
from backend.errors import bad_request, json_body
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store.models import utcnow

bp = Blueprint("audience", __name__)


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)


# ---- tags ----


@bp.get("/api/tags")
def list_tags() -> Any:
    with current_services().db.read() as session:
        items = tags.listing(session, account_id())
    return jsonify({"items": items, "total": len(items)})


@bp.post("/api/tags")
def create_tag() -> Any:
    body = json_body()
    name, color = tags.check_name(body.get("name")), tags.check_color(body.get("color"))
    with current_services().db.write() as session:
        view = tags.tag_view(tags.create(session, account_id(), name, color), 0)
    return jsonify(view), 201


@bp.patch("/api/tags/<int:tag_id>")
def patch_tag(tag_id: int) -> Any:
    body = json_body()
    with current_services().db.write() as session:
        tag = tags.load(session, account_id(), tag_id)
        tags.change(session, tag, body)
        view = tags.tag_view(tag)
    return jsonify(view)


@bp.delete("/api/tags/<int:tag_id>")
def delete_tag(tag_id: int) -> Any:
    with current_services().db.write() as session:
        tags.remove(session, account_id(), tag_id)
    return Response(status=204)


@bp.post("/api/contacts/bulk")
def bulk_tag() -> Any:
    """{contact_ids | filter | segment_id, add_tags?, remove_tags?} -> {"matched", "changed"}, one transaction."""
    body = json_body()
    add = tags.check_names(body.get("add_tags"), "add_tags")
    remove = tags.check_names(body.get("remove_tags"), "remove_tags")
    if not add and not remove:
        raise bad_request("Give add_tags or remove_tags.", [{"field": "add_tags", "reason": "nothing to do"}])
    selection = audience.check_selection(
        {k: v for k, v in body.items() if k not in ("add_tags", "remove_tags")}, "selection"
    )
    with current_services().db.write() as session:
        chosen = audience.condition(session, account_id(), selection, utcnow())
        result = tags.bulk_tag(session, account_id(), chosen, add, remove)
    return jsonify(result)


# ---- segments ----


@bp.get("/api/segments")
def list_segments() -> Any:
    with current_services().db.read() as session:
        items = segments.listing(session, account_id())
    return jsonify({"items": items, "total": len(items)})


@bp.post("/api/segments")
def create_segment() -> Any:
    body = json_body()
    with current_services().db.write() as session:
        view = segments.segment_view(segments.create(session, account_id(), body))
    return jsonify(view), 201


@bp.get("/api/segments/<int:segment_id>")
def get_segment(segment_id: int) -> Any:
    with current_services().db.read() as session:
        return jsonify(segments.segment_view(audience.load_segment(session, account_id(), segment_id)))


@bp.patch("/api/segments/<int:segment_id>")
def patch_segment(segment_id: int) -> Any:
    body = json_body()
    with current_services().db.write() as session:
        segment = audience.load_segment(session, account_id(), segment_id)
        segments.change(session, segment, body)
        view = segments.segment_view(segment)
    return jsonify(view)


@bp.delete("/api/segments/<int:segment_id>")
def delete_segment(segment_id: int) -> Any:
    with current_services().db.write() as session:
        segments.delete(session, account_id(), segment_id)
    return Response(status=204)


@bp.post("/api/segments/count")
def count() -> Any:
    """{filter | segment_id | tags (+ match)} -> total, reachable per family, opted_out, no_address, sample."""
    body = json_body()
    selection = audience.check_selection(body, "filter" if "filter" in body and len(body) == 1 else "selection")
    with current_services().db.read() as session:
        chosen = audience.condition(session, account_id(), selection, utcnow())
        result = audience.count(session, account_id(), chosen)
        sample = result.pop("sample")
        names = tags.tags_by_contact(session, [c.id for c in sample])
        result["sample"] = [contact_view(c, names[c.id]) for c in sample]
    return jsonify(result)
