"""SendGrid's signed Event Webhook, without the web part: signatures, which message an event is about, and what
each event means for delivery.

- `signature_valid(public_key, signature, timestamp, body)`: SendGrid signs `timestamp + raw body` with ECDSA
  P-256 / SHA-256; the header carries the base64 DER signature, the account setting `sendgrid_public_key` the
  base64 DER SubjectPublicKeyInfo. Anything malformed is simply not valid.
- `fresh(timestamp, now)`: the timestamp is at most MAX_AGE_S old (or ahead): older signed requests are replays.
- `event_target(event)`: our message, from the custom arguments we send (`bulkmsg_account`,
  `bulkmsg_message_id`: SendGrid copies unique_args into every event) or else from our deterministic Message-ID
  in `smtp-id` (`<bulkmsg.{account}.{message}@domain>`, backend/channels/email_mime.py).
- `sendgrid_headers(message)`: the `X-SMTPAPI` header that makes SendGrid's SMTP relay attach those arguments;
  SendGrid removes it before delivery. Add it to mail that leaves through smtp.sendgrid.net.
- `delivery_report(event)`: the communication for one event: `delivered` (and `open`/`click`, which imply it) ->
  success True; `bounce`/`dropped` -> False; `processed`/`deferred` and other events -> None (not final).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from backend.channels.base import DeliveryReport, OutboundMessage

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
MAX_AGE_S = 300
ACCOUNT_ARG = "bulkmsg_account"
MESSAGE_ARG = "bulkmsg_message_id"
SUCCESS = {"delivered": True, "open": True, "click": True, "bounce": False, "dropped": False}
_OUR_MESSAGE_ID = re.compile(r"^<?bulkmsg\.(\d{1,18})\.(\d{1,18})@[^>\s]+>?$")


def sendgrid_headers(message: OutboundMessage) -> dict[str, str]:
    """`X-SMTPAPI` carrying our account and message ids as SendGrid unique_args (values must be strings)."""
    args = {ACCOUNT_ARG: str(message.account_id), MESSAGE_ARG: str(message.id)}
    return {"X-SMTPAPI": json.dumps({"unique_args": args}, separators=(",", ":"))}


@lru_cache(maxsize=256)
def _public_key(encoded: str) -> ec.EllipticCurvePublicKey | None:
    lines = [line for line in encoded.strip().splitlines() if not line.startswith("-----")]
    try:
        key = load_der_public_key(base64.b64decode("".join("".join(lines).split()), validate=True))
    except (binascii.Error, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return None
    return key


def signature_valid(public_key: str | None, signature: str | None, timestamp: str | None, body: bytes) -> bool:
    """True only for SendGrid's ECDSA P-256 / SHA-256 signature of `timestamp + body` under `public_key`."""
    if not public_key or not signature or not timestamp:
        return False
    key = _public_key(public_key)
    if key is None:
        return False
    try:
        der = base64.b64decode(signature.strip(), validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        return False
    return True


def fresh(timestamp: str | None, now: datetime) -> bool:
    stamp = (timestamp or "").strip()
    if not stamp or not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:  # "²" passes isdigit alone
        return False
    return abs(now.timestamp() - int(stamp)) <= MAX_AGE_S


def event_target(event: dict[str, Any]) -> tuple[int, int] | None:
    """(account id, message id) an event names through our custom arguments or our Message-ID; else None."""
    account, message = event.get(ACCOUNT_ARG), event.get(MESSAGE_ARG)
    if _digits(account) and _digits(message):
        return int(str(account)), int(str(message))
    smtp_id = event.get("smtp-id") or event.get("smtp_id")
    if isinstance(smtp_id, str):
        found = _OUR_MESSAGE_ID.match(smtp_id.strip())
        if found:
            return int(found.group(1)), int(found.group(2))
    return None


def smtp_id(event: dict[str, Any]) -> str | None:
    """The event's `smtp-id` in the form our channels store as provider_message_id (`<...>`)."""
    value = event.get("smtp-id") or event.get("smtp_id")
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    return value if value.startswith("<") else f"<{value}>"


def delivery_report(event: dict[str, Any]) -> DeliveryReport:
    status = str(event.get("event") or "unknown")[:40]
    success = SUCCESS.get(status)
    reason = event.get("reason") or event.get("response")
    code = event.get("status") or event.get("type") or event.get("bounce_classification")
    return DeliveryReport(
        provider=PROVIDER,
        provider_event_id=event_id(event),
        status=status,
        success=success,
        error_code=str(code)[:40] if success is False and code else None,
        error_text=" ".join(str(reason).split())[:500] if reason and success is not True else None,
        occurred_at=_when(event.get("timestamp")),
        payload=event,
    )


def event_id(event: dict[str, Any]) -> str:
    """`sg_event_id`; for an event without one, a digest of its content (the same event gives the same id)."""
    given = event.get("sg_event_id")
    if isinstance(given, str) and given.strip():
        return given.strip()
    digest = hashlib.sha256(json.dumps(event, sort_keys=True, default=str).encode()).hexdigest()
    return f"sha256:{digest}"


def _when(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _digits(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18
