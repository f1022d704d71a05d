"""`POST /webhooks/sendgrid/events`: SendGrid's signed Event Webhook (DESIGN sections 6 and 9).

Contract:
- 403, nothing written: the timestamp header is missing or more than 5 minutes away from now, or the signature
  (ECDSA P-256 / SHA-256 over timestamp + raw body) does not verify with any account's `sendgrid_public_key`
  (checked before anything else is read), or with the key of an account the batch names. Events are matched
  to our messages by the custom arguments `bulkmsg_account` +
  `bulkmsg_message_id` (sent as X-SMTPAPI unique_args, see sendgrid_events.sendgrid_headers) or by our
  Message-ID in `smtp-id`; an event is applied only for an account whose own key verified the batch, so one
  account's SendGrid cannot write another account's delivery status.
- A batch naming none of our messages (SendGrid's "Test Your Integration") is answered 200 when the signature
  verifies with any account's key, else 403. A verified body that is not a JSON list of events -> 400.
- 200 {"applied", "duplicates", "ignored"}: every matched event written as a communication (provider
  `sendgrid`, event id `sg_event_id`; a repeated event is stored once and counted as a duplicate, so SendGrid's
  retries are harmless), then the delivery-status job is nudged to settle the messages at once.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy import select

from backend.channels.families import EMAIL_CHANNELS
from backend.channels.sendgrid_events import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    delivery_report,
    event_target,
    fresh,
    signature_valid,
    smtp_id,
)
from backend.communications import record_communication
from backend.contacts.provider_opt_outs import suppress_address
from backend.errors import ApiError, bad_request
from backend.store.models import Account, Message, utcnow

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

bp = Blueprint("sendgrid_webhook", __name__)
EVENTS_PATH = "/webhooks/sendgrid/events"
#: keys tried for a batch that names none of our messages.
MAX_KEYS_FOR_UNMATCHED = 1000


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


def _refused(why: str) -> ApiError:
    log.warning("SendGrid event webhook refused: %s", why)
    return ApiError(403, "bad_signature", "The SendGrid event webhook signature is missing, stale or does not match.")


@bp.post(EVENTS_PATH)
def sendgrid_events() -> Any:
    services: Services = current_app.extensions["bulkmsg"]
    body = request.get_data(cache=False)
    signature = request.headers.get(SIGNATURE_HEADER)
    timestamp = request.headers.get(TIMESTAMP_HEADER)
    if not fresh(timestamp, utcnow()):
        raise _refused("timestamp missing or older than 5 minutes")
    with services.db.read() as session:
        # The signature first: nothing about our messages is looked up for a batch no account signed.
        verified = _verifying_accounts(session, signature, timestamp, body)
        if not verified:
            raise _refused("no account's key verifies this batch")
        events = _parse(body)
        if events is None:
            raise bad_request("The body is not a JSON list of SendGrid events.")
        targets = _targets(session, events)
        if not targets:
            return jsonify({"applied": 0, "duplicates": 0, "ignored": len(events)})
    if not any(account in verified for account, _ in targets.values()):
        raise _refused("the signature does not verify with the key of any account the events name")
    applied = duplicates = ignored = 0
    with services.db.write() as session:
        for index, event in enumerate(events):
            target = targets.get(index)
            if target is None or target[0] not in verified:
                ignored += 1
                continue
            if record_communication(session, target[0], target[1], delivery_report(event)) is None:
                duplicates += 1
            else:
                applied += 1
                if suppresses(event):
                    _suppress(services, session, target[0], target[1])
    if applied:
        services.delivery_job.nudge()  # the job reads what the webhook wrote, now
    if ignored:
        log.info("SendGrid events: %s applied, %s duplicates, %s not ours", applied, duplicates, ignored)
    return jsonify({"applied": applied, "duplicates": duplicates, "ignored": ignored})


def suppresses(event: dict[str, Any]) -> bool:
    """A hard bounce (`bounce` of type bounce, not a soft `blocked`) or a `dropped` send suppresses the address."""
    kind = event.get("event")
    return kind == "dropped" or (kind == "bounce" and event.get("type") != "blocked")


def _suppress(services: Services, session: Any, account: int, message_id: int) -> None:
    message = session.get(Message, message_id)
    if message is not None and message.account_id == account:
        suppress_address(services, session, account, message.recipient, message.contact_id)


def _parse(body: bytes) -> list[dict[str, Any]] | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, list):
        return None
    return [event if isinstance(event, dict) else {} for event in data]


def _targets(session: Any, events: list[dict[str, Any]]) -> dict[int, tuple[int, int]]:
    """Event index -> (account id, message id), for events naming an email message that exists in that account."""
    named = {index: event_target(event) for index, event in enumerate(events)}
    by_smtp_id = {index: smtp_id(event) for index, event in enumerate(events) if named[index] is None}
    ids = {target[1] for target in named.values() if target is not None}
    found: dict[int, int] = {}
    if ids:
        rows = session.execute(
            select(Message.id, Message.account_id).where(Message.id.in_(ids), Message.channel.in_(EMAIL_CHANNELS))
        )
        found = {message_id: account_id for message_id, account_id in rows}
    wanted = {value for value in by_smtp_id.values() if value}
    by_provider: dict[str, list[tuple[int, int]]] = defaultdict(list)
    if wanted:
        rows = session.execute(
            select(Message.provider_message_id, Message.account_id, Message.id).where(
                Message.provider_message_id.in_(wanted), Message.channel.in_(EMAIL_CHANNELS)
            )
        )
        for provider_id, account_id, message_id in rows:
            by_provider[provider_id].append((account_id, message_id))
    targets: dict[int, tuple[int, int]] = {}
    for index, target in named.items():
        if target is not None and found.get(target[1]) == target[0]:
            targets[index] = target
        elif target is None and len(by_provider.get(by_smtp_id.get(index) or "", [])) == 1:
            targets[index] = by_provider[by_smtp_id[index] or ""][0]
    return targets


def _verifying_accounts(session: Any, signature: str | None, timestamp: str | None, body: bytes) -> set[int]:
    """The accounts whose SendGrid public key verifies this batch (keys are public: no secret is opened)."""
    rows = session.scalars(select(Account).limit(MAX_KEYS_FOR_UNMATCHED))
    keys = {row.id: key for row in rows if (key := (row.settings or {}).get("sendgrid_public_key"))}
    return {account for account, key in keys.items() if signature_valid(key, signature, timestamp, body)}
