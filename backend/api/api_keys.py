"""API keys: `POST|GET /api/api-keys`, `DELETE /api/api-keys/<id>` (DESIGN section 17).

The key is answered once, on creation; lists show its prefix, scopes and `last_used_at`, never the key. A key
used to create keys can only give the scopes it holds itself (an `admin` key cannot mint a `send` key).
Deleting revokes at once: the next request with that key is 401.

`backend.accounts.authenticate(db, token, now)` answers the `Principal` a key stands for, or raises ApiError 401
for a wrong, revoked or expired key (the same answer for each, so a caller learns nothing about which); the
request guard calls it through `services.api_key_auth`. The key is looked up by its hash (a unique index) and the
stored hash is compared with `hmac.compare_digest`: timing says nothing about the key, since nobody can choose a
hash's bytes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, g, jsonify
from sqlalchemy import select

from backend.errors import ApiError, bad_request, json_body, not_found
from backend.security import api_keys
from backend.security.guards import account_id
from backend.services import Services, current_services
from backend.store.models import ApiKey
from backend.views import iso

bp = Blueprint("api_keys", __name__)

MAX_NAME = 100
MAX_KEYS = 200


def install(app: Flask, services: Services) -> None:
    app.register_blueprint(bp)


def key_view(row: ApiKey) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": list(row.scopes or []),
        "expires_at": iso(row.expires_at),
        "last_used_at": iso(row.last_used_at),
        "created_at": iso(row.created_at),
    }


def _parse(body: dict[str, Any], now: datetime) -> tuple[str, list[str], datetime | None]:
    problems: list[dict[str, Any]] = []
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        problems.append({"field": "name", "reason": f"give a name of 1 to {MAX_NAME} characters"})
    scopes = body.get("scopes", list(api_keys.SCOPES))
    if not isinstance(scopes, list) or not scopes or not all(s in api_keys.SCOPES for s in scopes):
        problems.append({"field": "scopes", "reason": "one or more of read, contacts, send, admin"})
        scopes = []
    expires_at = _parse_time(body.get("expires_at"), now, problems)
    if problems:
        raise bad_request("The API key cannot be created: " + "; ".join(p["reason"] for p in problems), problems)
    ordered = [s for s in api_keys.SCOPES if s in scopes]
    return str(name).strip(), ordered, expires_at


def _parse_time(raw: Any, now: datetime, problems: list[dict[str, Any]]) -> datetime | None:
    if raw is None:
        return None
    try:
        when = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        problems.append({"field": "expires_at", "reason": "an ISO 8601 time such as 2027-01-31T00:00:00Z"})
        return None
    if when.tzinfo is None:
        problems.append({"field": "expires_at", "reason": "a time with its zone (Z for UTC)"})
        return None
    if when <= now:
        problems.append({"field": "expires_at", "reason": "a time in the future"})
    return when


@bp.post("/api/api-keys")
def create_key() -> Any:
    services = current_services()
    now = services.clock()
    name, scopes, expires_at = _parse(json_body(), now)
    held: frozenset[str] | None = g.get("api_key_scopes")
    if held is not None and not set(scopes) <= held:
        missing = ", ".join(s for s in scopes if s not in held)
        raise ApiError(403, "insufficient_scope", f"This API key cannot give scopes it lacks: {missing}.")
    key = api_keys.new_key()
    with services.db.write() as session:
        count = len(session.scalars(select(ApiKey.id).where(ApiKey.account_id == account_id())).all())
        if count >= MAX_KEYS:
            raise ApiError(409, "too_many_keys", f"An account keeps at most {MAX_KEYS} API keys; revoke one first.")
        row = ApiKey(
            account_id=account_id(),
            name=name,
            prefix=api_keys.shown_prefix(key),
            key_hash=api_keys.hash_key(key),
            scopes=scopes,
            expires_at=expires_at,
            created_at=now,
        )
        session.add(row)
        session.flush()
        view = key_view(row)
    return jsonify(
        {
            "id": view["id"],
            "name": name,
            "key": key,
            "prefix": view["prefix"],
            "scopes": scopes,
            "expires_at": view["expires_at"],
        }
    ), 201


@bp.get("/api/api-keys")
def list_keys() -> Any:
    with current_services().db.read() as session:
        rows = session.scalars(
            select(ApiKey).where(ApiKey.account_id == account_id(), ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)
        ).all()
        items = [key_view(row) for row in rows]
    return jsonify({"items": items, "total": len(items)})


@bp.delete("/api/api-keys/<int:key_id>")
def revoke_key(key_id: int) -> Any:
    services = current_services()
    with services.db.write() as session:
        row = session.get(ApiKey, key_id)
        if row is None or row.account_id != account_id() or row.revoked_at is not None:
            raise not_found("API key")
        row.revoked_at = services.clock()
    return "", 204
