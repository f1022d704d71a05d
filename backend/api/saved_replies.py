"""Saved replies: canned answers the inbox composer inserts (DESIGN section 9, inbox).

- `GET /api/saved-replies` -> {"items": [{"id", "name", "body", "created_at", "updated_at"}], "total"}, by name.
- `POST /api/saved-replies` {name, body} -> 201 the reply; `PATCH /api/saved-replies/<id>` {name?, body?} -> the
  reply; `DELETE /api/saved-replies/<id>` -> 204.
A name is 1 to 100 characters, a body 1 to 5,000; 400 lists each problem, 409 when the name is taken, 404 for
another account's reply. Writing needs the `send` scope of an API key.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, jsonify
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.errors import bad_request, conflict, json_body, not_found
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store.models import SavedReply
from backend.views import iso

bp = Blueprint("saved_replies", __name__)

MAX_NAME = 100
MAX_BODY = 5000
MAX_REPLIES = 500


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


def _view(reply: SavedReply) -> dict[str, Any]:
    return {
        "id": reply.id,
        "name": reply.name,
        "body": reply.body,
        "created_at": iso(reply.created_at),
        "updated_at": iso(reply.updated_at),
    }


def _checked(raw: dict[str, Any], partial: bool) -> dict[str, str]:
    problems: list[dict[str, str]] = []
    values: dict[str, str] = {}
    for key in sorted(set(raw) - {"name", "body"}):
        problems.append({"field": key, "reason": "unknown field"})
    for key, limit in (("name", MAX_NAME), ("body", MAX_BODY)):
        if key not in raw:
            if not partial:
                problems.append({"field": key, "reason": "required"})
            continue
        value = raw[key]
        text = value.strip() if isinstance(value, str) else ""
        if not text or len(text) > limit:
            problems.append({"field": key, "reason": f"1 to {limit:,} characters"})
        else:
            values[key] = text if key == "name" else value
    if problems:
        raise bad_request("The saved reply is not valid.", problems)
    return values


def _name_taken(session: Session, account: int, name: str, other_than: int | None = None) -> None:
    query = select(SavedReply.id).where(SavedReply.account_id == account, SavedReply.name == name)
    if other_than is not None:
        query = query.where(SavedReply.id != other_than)
    if session.scalar(query) is not None:
        raise conflict(f"A saved reply named {name} already exists.")


def _own(session: Session, account: int, reply_id: int) -> SavedReply:
    reply = session.get(SavedReply, reply_id)
    if reply is None or reply.account_id != account:
        raise not_found("This saved reply")
    return reply


@bp.get("/api/saved-replies")
def list_saved_replies() -> Any:
    with current_services().db.read() as session:
        rows = session.scalars(
            select(SavedReply).where(SavedReply.account_id == account_id()).order_by(SavedReply.name).limit(MAX_REPLIES)
        ).all()
        return jsonify({"items": [_view(r) for r in rows], "total": len(rows)})


@bp.post("/api/saved-replies")
def create_saved_reply() -> Any:
    values = _checked(json_body(), partial=False)
    account = account_id()
    with current_services().db.write() as session:
        count = session.scalar(select(func.count()).where(SavedReply.account_id == account)) or 0
        if count >= MAX_REPLIES:
            raise conflict(f"An account keeps at most {MAX_REPLIES} saved replies; delete one first.")
        _name_taken(session, account, values["name"])
        reply = SavedReply(account_id=account, **values)
        session.add(reply)
        session.flush()
        view = _view(reply)
    return jsonify(view), 201, {"Location": f"/api/saved-replies/{view['id']}"}


@bp.patch("/api/saved-replies/<int:reply_id>")
def update_saved_reply(reply_id: int) -> Any:
    values = _checked(json_body(), partial=True)
    account = account_id()
    with current_services().db.write() as session:
        reply = _own(session, account, reply_id)
        if "name" in values:
            _name_taken(session, account, values["name"], other_than=reply.id)
        for key, value in values.items():
            setattr(reply, key, value)
        session.flush()
        return jsonify(_view(reply))


@bp.delete("/api/saved-replies/<int:reply_id>")
def delete_saved_reply(reply_id: int) -> Any:
    with current_services().db.write() as session:
        session.delete(_own(session, account_id(), reply_id))
    return "", 204
