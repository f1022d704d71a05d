"""Media library routes (DESIGN section 15) and the signed public link `/m/<token>` that Twilio fetches an MMS
file from. Every query filters on the caller's account."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, send_file
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.api.core import int_arg
from backend.errors import ApiError, bad_request, conflict, not_found
from backend.media.library import MediaTooLarge, media_view
from backend.media.sniff import MediaRefused
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store import states
from backend.store.models import Campaign, Media

bp = Blueprint("media", __name__)
#: campaigns whose messages may still need their files.
LIVE = (states.DRAFT, states.SCHEDULED, states.RUNNING, states.PAUSED)
#: kinds a browser may show inline; anything else is downloaded.
INLINE = ("image", "video", "audio")


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)


@bp.post("/api/media")
def upload() -> Any:
    """Store a file (multipart `file`); the same content again answers the stored file (200, not 201)."""
    services = current_services()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise bad_request("Choose a file to upload.", [{"field": "file", "reason": "missing"}])
    try:
        with services.db.write() as session:
            stored = services.media.save(
                session, account_id(), upload.filename, upload.stream, services.config.max_upload_bytes
            )
            view = media_view(stored.media)
    except MediaRefused as exc:
        reason = exc.reason
        raise bad_request(f"This file cannot be attached: {reason}.", [{"field": "file", "reason": reason}]) from None
    except MediaTooLarge as exc:
        raise ApiError(413, "too_large", f"This file cannot be attached: {exc}.") from None
    return jsonify(view), 201 if stored.created else 200


@bp.get("/api/media")
def list_media() -> Any:
    limit = int_arg("limit", default=100, low=1, high=500)
    offset = int_arg("offset", default=0, low=0)
    query = select(Media).where(Media.account_id == account_id())
    with current_services().db.read() as session:
        total = session.scalar(select(func.count()).select_from(query.subquery()))
        rows = session.scalars(query.order_by(Media.id.desc()).limit(limit).offset(offset)).all()
        return jsonify({"items": [media_view(m) for m in rows], "total": total})


def _load(session: Session, media_id: int) -> Media:
    media = session.scalar(select(Media).where(Media.id == media_id, Media.account_id == account_id()))
    if media is None:
        raise not_found("The file")
    return media


@bp.get("/api/media/<int:media_id>")
def get_media(media_id: int) -> Any:
    with current_services().db.read() as session:
        return jsonify(media_view(_load(session, media_id)))


@bp.get("/api/media/<int:media_id>/content")
def media_content(media_id: int) -> Response:
    services = current_services()
    with services.db.read() as session:
        media = _load(session, media_id)
        return _file(services, media)


@bp.delete("/api/media/<int:media_id>")
def delete_media(media_id: int) -> Any:
    """Delete a file no draft, scheduled, running or paused campaign uses (409 naming them otherwise)."""
    services = current_services()
    with services.db.write() as session:
        media = _load(session, media_id)
        users = [
            c.name
            for c in session.scalars(
                select(Campaign).where(Campaign.account_id == media.account_id, Campaign.status.in_(LIVE))
            )
            if any(a.get("media_id") == media.id for a in c.attachments or [])
        ]
        if users:
            names = ", ".join(f"“{n}”" for n in users[:5]) + (f" and {len(users) - 5} more" if len(users) > 5 else "")
            raise conflict(f"This file is attached to {names}: it can be deleted once they are finished or cancelled.")
        session.delete(media)
        account, sha256 = media.account_id, media.sha256
    services.media.delete_file(account, sha256)
    return "", 204


@bp.get("/m/<token>")
def public_link(token: str) -> Response:
    """One file, opened by a signed link that lasts 24 hours (Twilio fetches MMS media here). Anything else: 403."""
    services = current_services()
    opened = services.media.open_link(token)
    if opened is None:
        raise ApiError(403, "forbidden", "This link is not valid.")
    with services.db.read() as session:
        media = session.scalar(select(Media).where(Media.id == opened[1], Media.account_id == opened[0]))
        if media is None:
            raise ApiError(403, "forbidden", "This link is not valid.")
        return _file(services, media)


def _file(services: Services, media: Media) -> Response:
    path = services.media.path_of(media.account_id, media.sha256)
    if not path.is_file():
        raise not_found("The file's content")
    return send_file(
        path,
        mimetype=media.content_type,
        as_attachment=media.kind not in INLINE,
        download_name=media.filename,
        max_age=0,
    )
