"""`POST /webhooks/communications`: any provider's delivery log line, signed with the account's webhook secret.

Body (JSON): {"message_id": int, "provider": str, "event_id": str, "status": str, "success": true|false|null,
"error"?: str | {"code"?, "message"?}}. Header `X-Bulkmsg-Signature: sha256=<hex HMAC-SHA256 of the raw body>`
keyed with the webhook secret of the account the message belongs to (`PUT /api/settings`).

Answers, and nothing is written unless the answer is 200. The signature is checked first, against every
account's secret, before the body is read or anything looked up, so a stranger learns nothing (not even whether
a message id exists):
- 403 when the signature is missing, malformed or made with no account's secret (compared in constant time);
- 400 when the body is not a JSON object or has no usable `message_id`, or with `details` naming each bad field;
- 404 when the signing account has no message with that id;
- 409 when this provider event was already recorded (a replay is applied once);
- 200 {"communication_id"} once the line is stored; the delivery-status job is nudged to settle the message.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy import select

from backend.channels.base import DeliveryReport
from backend.communications import record_communication
from backend.errors import ApiError, bad_request, conflict, not_found
from backend.security.hardening import loads_bounded
from backend.store.models import Credential, Message

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

bp = Blueprint("webhook_communications", __name__)

SIGNATURE_HEADER = "X-Bulkmsg-Signature"
SIGNATURE_PREFIX = "sha256="
#: longest values stored (the communications table's column sizes).
LIMITS = {"provider": 30, "event_id": 255, "status": 40}
#: accounts whose secrets are tried at most (a store of more accounts is several teams on one server).
MAX_ACCOUNTS = 1000


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


def signature(secret: str, body: bytes) -> str:
    """The header value a sender puts on `body`: `sha256=` + hex HMAC-SHA256 keyed with `secret`."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _forbidden(why: str) -> ApiError:
    return ApiError(403, "bad_signature", f"The {SIGNATURE_HEADER} header {why}.")


@bp.post("/webhooks/communications")
def communications_webhook() -> Any:
    services: Services = current_app.extensions["bulkmsg"]
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given.startswith(SIGNATURE_PREFIX):
        raise _forbidden("is missing (expected sha256=<hex HMAC-SHA256 of the body>)")
    body = request.get_data(cache=True)
    with services.db.read() as session:
        accounts = _signing_accounts(services, session, body, given)
    if not accounts:
        log.warning("communications webhook refused: wrong signature")
        raise _forbidden("does not match this body and the account's webhook secret")
    payload = _json_object(body)
    message_id = _message_id(payload.get("message_id"))
    with services.db.read() as session:
        row = session.execute(
            select(Message.id, Message.account_id).where(Message.id == message_id, Message.account_id.in_(accounts))
        ).first()
    if row is None:
        raise not_found(f"Message {message_id}")
    report = _report(payload)
    with services.db.write() as session:
        communication_id = record_communication(session, row.account_id, row.id, report)
    if communication_id is None:
        raise conflict(f"Event {report.provider_event_id!r} of {report.provider} was already recorded.")
    services.delivery_job.nudge()  # the job reads what the webhook wrote, now
    return jsonify({"communication_id": communication_id})


def _signing_accounts(services: Services, session: Any, body: bytes, given: str) -> list[int]:
    """The accounts whose webhook secret signed `body`. Every secret is tried (read, never generated: a secret
    nobody was given cannot have signed anything), so the time taken does not depend on which one matched."""
    rows = session.execute(
        select(Credential.account_id, Credential.ciphertext)
        .where(Credential.scope == "settings", Credential.name == "webhook_secret")
        .limit(MAX_ACCOUNTS)
    ).all()
    signed = []
    for account_id, ciphertext in rows:
        secret = services.secrets.box.open(ciphertext)
        if secret and hmac.compare_digest(signature(secret, body).encode(), given.encode()):
            signed.append(int(account_id))
    return signed


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = loads_bounded(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise bad_request("The body must be a JSON object.")
    return payload


def _message_id(value: Any) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise bad_request(
            "`message_id` must be the id of a message (a positive whole number).",
            [{"field": "message_id", "reason": "must be a positive whole number"}],
        )
    return value


def _report(payload: dict[str, Any]) -> DeliveryReport:
    """The body as a delivery report, or a 400 listing every bad field."""
    problems: list[dict[str, str]] = []
    texts: dict[str, str] = {}
    for name, limit in LIMITS.items():
        value = payload.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and name == "event_id":
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            problems.append({"field": name, "reason": "required text"})
        elif len(value) > limit:
            problems.append({"field": name, "reason": f"at most {limit} characters"})
        else:
            texts[name] = value.strip()
    success = payload.get("success", "missing")
    if success is not None and not isinstance(success, bool):
        problems.append({"field": "success", "reason": "must be true, false or null (not final yet)"})
    code, text = _error(payload.get("error"), problems)
    if problems:
        raise bad_request("The delivery report has bad fields.", problems)
    return DeliveryReport(
        provider=texts["provider"],
        provider_event_id=texts["event_id"],
        status=texts["status"],
        success=success,
        error_code=code,
        error_text=text,
        payload=payload,
    )


def _error(value: Any, problems: list[dict[str, str]]) -> tuple[str | None, str | None]:
    """`error` as (code, text): a string is the text; an object may carry `code` and `message`."""
    if value is None:
        return None, None
    if isinstance(value, str):
        return None, value[:2000] or None
    if isinstance(value, dict):
        code, message = value.get("code"), value.get("message")
        if (code is None or isinstance(code, str | int)) and (message is None or isinstance(message, str)):
            return (None if code is None else str(code)[:40]), (message or None) and message[:2000]
    problems.append({"field": "error", "reason": 'text, or an object {"code", "message"}'})
    return None, None
