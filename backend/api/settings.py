"""Account settings: `GET /api/settings`, `PUT /api/settings` (DESIGN section 9).

Fields: `public_url` (base of webhook URLs; BULKMSG_PUBLIC_URL when the account has none), `default_country`
(ISO 3166 region used to read phone numbers written without +country), `default_timezone` (IANA zone of a
recipient whose zone neither the contact nor the phone number tells, DESIGN section 16), `sendgrid_public_key`
(base64 DER of the P-256 key that signs SendGrid's event webhook) and `webhook_secret` (for
`/webhooks/communications`; generated on first read and always shown as `****`), `soft_bounce_limit` /
`soft_bounce_days` (so many temporary delivery failures of one address within so many days suppress it; default
3 and 14; `null` restores the default).

PUT changes only the fields it names; `null` clears public_url, default_country, default_timezone and
sendgrid_public_key.
`webhook_secret` takes your own value (24 to 256 characters without spaces) or `"generate"`: a new random one,
returned once in that response as `new_webhook_secret` (it is never shown again). Each problem is listed in a
400 and nothing is stored.
"""

from __future__ import annotations

import base64
import binascii
import secrets as random_secrets
from typing import Any
from urllib.parse import urlsplit

import phonenumbers
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from flask import Blueprint, Flask, jsonify

from backend.campaigns.zones import zone_named
from backend.errors import bad_request, json_body
from backend.security.guards import account_id
from backend.security.hosts import url_host_problem
from backend.security.masking import MASK
from backend.services import Services, current_services
from backend.store.models import Account

bp = Blueprint("settings", __name__)

FIELDS = frozenset(
    {
        "public_url",
        "default_country",
        "default_timezone",
        "sendgrid_public_key",
        "webhook_secret",
        "soft_bounce_limit",
        "soft_bounce_days",
    }
)
#: temporary delivery failures of one address within so many days that suppress it (DESIGN section 19).
SOFT_BOUNCE_DEFAULTS = {"soft_bounce_limit": 3, "soft_bounce_days": 14}
SOFT_BOUNCE_RANGES = {"soft_bounce_limit": (1, 100), "soft_bounce_days": (1, 365)}
GENERATE = "generate"
MAX_URL_LENGTH = 2000
#: webhook paths shown with the public URL so the user can paste them into each provider's console.
WEBHOOK_PATHS = {
    "twilio_inbound": "/webhooks/twilio/inbound",
    "twilio_status": "/webhooks/twilio/status",
    "sendgrid_events": "/webhooks/sendgrid/events",
    "communications": "/webhooks/communications",
}


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


def _services() -> Services:
    return current_services()


@bp.get("/api/settings")
def get_settings() -> Any:
    services = _services()
    with services.db.read() as session:
        account = session.get_one(Account, account_id())
        has_secret = "webhook_secret" in services.secrets.load(session, account.id, "settings")
        view = _view(account, services)
    if not has_secret:
        with services.db.write() as session:
            services.secrets.webhook_secret(session, account.id)  # generated on first read
    return jsonify(view)


@bp.put("/api/settings")
def put_settings() -> Any:
    raw = json_body()
    changes, new_secret = _validate(raw)
    services = _services()
    with services.db.write() as session:
        account = session.get_one(Account, account_id())
        settings = dict(account.settings or {})
        for key, value in changes.items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        account.settings = settings  # a new dict, so the JSON column is written
        if new_secret is not None:
            services.secrets.save(session, account.id, "settings", {"webhook_secret": new_secret})
        services.secrets.webhook_secret(session, account.id)
        view = _view(account, services)
    if "public_url" in changes:
        # The SMS channel builds its StatusCallback URL from the public URL when it is built.
        services.channels.forget(account.id, "sms")
    if new_secret is not None and raw.get("webhook_secret") == GENERATE:
        view["new_webhook_secret"] = new_secret
    return jsonify(view)


def _view(account: Account, services: Services) -> dict[str, Any]:
    settings = dict(account.settings or {})
    public_url = settings.get("public_url") or services.config.public_url
    return {
        "public_url": public_url,
        "public_url_source": "account" if settings.get("public_url") else ("environment" if public_url else None),
        "default_country": settings.get("default_country"),
        "default_timezone": settings.get("default_timezone"),
        "sendgrid_public_key": settings.get("sendgrid_public_key"),
        **{key: settings.get(key, default) for key, default in SOFT_BOUNCE_DEFAULTS.items()},
        "webhook_secret": MASK,
        "webhook_urls": {name: f"{public_url}{path}" if public_url else None for name, path in WEBHOOK_PATHS.items()},
    }


def _validate(raw: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """(changes to the plain settings, new webhook secret or None); 400 listing each problem."""
    problems: list[dict[str, str]] = []
    changes: dict[str, Any] = {}
    for key in sorted(set(raw) - FIELDS):
        problems.append({"field": key, "reason": "unknown setting"})
    checks = {
        "public_url": _public_url,
        "default_country": _country,
        "default_timezone": _timezone,
        "sendgrid_public_key": _sendgrid_key,
        "soft_bounce_limit": _soft_limit("soft_bounce_limit"),
        "soft_bounce_days": _soft_limit("soft_bounce_days"),
    }
    for key, check in checks.items():
        if key not in raw:
            continue
        if raw[key] is None or raw[key] == "":
            changes[key] = None
            continue
        value, reason = check(raw[key])
        if reason:
            problems.append({"field": key, "reason": reason})
        else:
            changes[key] = value
    new_secret, reason = _webhook_secret(raw["webhook_secret"]) if "webhook_secret" in raw else (None, None)
    if reason:
        problems.append({"field": "webhook_secret", "reason": reason})
    if problems:
        raise bad_request("The settings are not valid.", problems)
    return changes, new_secret


def _public_url(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or len(value) > MAX_URL_LENGTH:
        return None, "must be a URL"
    bad_host = url_host_problem(value)
    if bad_host:
        return None, f"must be an http:// or https:// URL, like https://example.ngrok.app; this one {bad_host}"
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, "must be an http:// or https:// URL, like https://example.ngrok.app"
    if parts.query or parts.fragment or parts.username or parts.password:
        return None, "must be a plain URL without query, fragment or credentials"
    return value.strip().rstrip("/"), None


def _soft_limit(key: str) -> Any:
    low, high = SOFT_BOUNCE_RANGES[key]

    def check(value: Any) -> tuple[Any, str | None]:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return None, f"must be a whole number from {low} to {high}"
        return value, None

    return check


def _country(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or value.strip().upper() not in phonenumbers.SUPPORTED_REGIONS:
        return None, "must be a two-letter country code, like US or DE"
    return value.strip().upper(), None


def _timezone(value: Any) -> tuple[Any, str | None]:
    if not isinstance(value, str) or zone_named(value.strip()) is None:
        return None, "must be an IANA time zone name, like Europe/Berlin or America/New_York"
    return value.strip(), None


def _sendgrid_key(value: Any) -> tuple[Any, str | None]:
    reason = "must be the base64 verification key from SendGrid's Event Webhook settings (ECDSA P-256)"
    if not isinstance(value, str):
        return None, reason
    lines = [ln for ln in value.strip().splitlines() if not ln.startswith("-----")]
    compact = "".join("".join(lines).split())
    try:
        key = load_der_public_key(base64.b64decode(compact, validate=True))
    except (binascii.Error, ValueError, TypeError):
        return None, reason
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return None, reason
    return compact, None


def _webhook_secret(value: Any) -> tuple[str | None, str | None]:
    if value == MASK:
        return None, None
    if value == GENERATE:
        return random_secrets.token_urlsafe(32), None
    if not isinstance(value, str) or not 24 <= len(value) <= 256 or any(ch.isspace() for ch in value):
        return None, 'must be "generate" or your own value of 24 to 256 characters without spaces'
    return value, None
