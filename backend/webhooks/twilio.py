"""`POST /webhooks/twilio/status`: Twilio's message status callbacks (DESIGN sections 6 and 9).

Contract:
- The message is found by `MessageSid` (its provider_message_id); its account's SMS auth token checks
  `X-Twilio-Signature` exactly as Twilio computes it: base64 HMAC-SHA1 over the URL Twilio called (the
  configured public URL + path when one is set, else the request's own URL; with and without the default port,
  as Twilio's own validator accepts) followed by each POST parameter name and value, sorted by name.
  Signatures are compared in constant time.
- 400: MessageSid or MessageStatus missing or malformed. 404: no message has this SID. 403: signature missing or wrong.
  409: this very status of this message was already recorded (a replay). Each writes nothing.
- 204: the callback was written as a communication (provider `twilio`, event id `<MessageSid>:<MessageStatus>`),
  and the delivery-status job is nudged to settle the message at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy import and_, select
from werkzeug.datastructures import MultiDict

from backend.channels.base import DeliveryReport
from backend.channels.sms import CALLBACK_PATH, delivery_success
from backend.channels.sms_errors import delivery_error_text
from backend.communications import nudge_delivery_job, record_communication
from backend.errors import ApiError, bad_request, conflict, not_found
from backend.store.models import Account, ChannelConfig, Message
from backend.webhooks.group_commit import group_commit

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

bp = Blueprint("twilio_webhook", __name__)
#: more rows than this sharing one SID is not a Twilio SID any more; stop looking.
MAX_CANDIDATES = 5
SID = re.compile(r"^[A-Za-z0-9]{2,64}$")
STATUS = re.compile(r"^[a-z_]{1,40}$")


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


def twilio_signature(auth_token: str, url: str, params: MultiDict[str, str]) -> str:
    """What Twilio puts in X-Twilio-Signature for a form POST of `params` to `url`."""
    data = url
    for name in sorted(set(params.keys())):
        for value in sorted(set(params.getlist(name))):
            data += name + value
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def signature_matches(auth_token: str, urls: Iterable[str], params: MultiDict[str, str], signature: str) -> bool:
    """True when `signature` is Twilio's for one of `urls` (each tried with and without its default port)."""
    given = signature.encode()
    matched = False
    for url in urls:
        for variant in _port_variants(url):
            # Every candidate is computed and compared, so the time taken does not depend on which one matched.
            matched |= hmac.compare_digest(twilio_signature(auth_token, variant, params).encode(), given)
    return matched


@bp.post(CALLBACK_PATH)
def twilio_status() -> Response:
    services: Services = current_app.extensions["bulkmsg"]
    params = request.form
    sid, status = params.get("MessageSid", ""), params.get("MessageStatus", "")
    if not SID.match(sid) or not STATUS.match(status):
        raise bad_request("A Twilio status callback needs a MessageSid and a MessageStatus.")
    signature = request.headers.get("X-Twilio-Signature", "")
    with services.db.read() as session:
        # One query: the message, its account's public URL and its SMS settings (for the signed URL).
        candidates = session.execute(
            select(Message.id, Message.account_id, Account.settings, ChannelConfig.settings)
            .join(Account, Account.id == Message.account_id)
            .outerjoin(
                ChannelConfig, and_(ChannelConfig.account_id == Message.account_id, ChannelConfig.channel == "sms")
            )
            .where(Message.provider_message_id == sid, Message.channel == "sms")
            .limit(MAX_CANDIDATES)
        ).all()
        if not candidates:
            raise not_found("A message with this MessageSid")
        message = None
        for message_id, account_id, account_settings, sms_settings in candidates:
            token = services.secrets.load(session, account_id, "sms").get("auth_token") if signature else None
            urls = callback_urls(services, sms_settings or {}, account_settings or {})
            if token and signature_matches(token, urls, params, signature):
                message = (message_id, account_id)
                break
    if message is None:
        log.warning("Twilio status callback for %s refused: missing or wrong signature", sid)
        raise ApiError(403, "bad_signature", "The X-Twilio-Signature header is missing or does not match.")

    report = DeliveryReport(
        provider="twilio",
        provider_event_id=f"{sid}:{status}",
        status=status,
        success=delivery_success(status),
        error_code=params.get("ErrorCode") or None,
        error_text=delivery_error_text(params.get("ErrorCode")) if delivery_success(status) is False else None,
        payload={name: params.get(name, "") for name in sorted(params.keys())},
    )
    # Committed before the answer, in a transaction shared with the other webhooks of a burst.
    communication_id = group_commit(services.db).run(
        lambda session: record_communication(session, message[1], message[0], report)
    )
    if communication_id is None:
        raise conflict("This status of this message was already recorded.")
    nudge_delivery_job(services)
    return Response(status=204)


def callback_urls(
    services: Services, sms_settings: dict[str, Any], account_settings: dict[str, Any], path: str = CALLBACK_PATH
) -> list[str]:
    """The URLs Twilio may have signed: the configured public URL + path (SMS setting, account setting or
    BULKMSG_PUBLIC_URL, as the channel chose it), and the URL this request arrived at."""
    query = request.query_string.decode()
    urls: list[str] = []
    for base in (sms_settings.get("public_url"), account_settings.get("public_url"), services.config.public_url):
        if base:
            urls.append(f"{str(base).rstrip('/')}{path}" + (f"?{query}" if query else ""))
    urls.append(request.url)
    return list(dict.fromkeys(urls))


def _port_variants(url: str) -> list[str]:
    """`url` as given, without its port, and with the scheme's default port (Twilio's validator tries each)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    default = 443 if parts.scheme == "https" else 80
    bare = urlunsplit(parts._replace(netloc=host))
    with_port = urlunsplit(parts._replace(netloc=f"{host}:{parts.port or default}"))
    return list(dict.fromkeys([url, bare, with_port]))
