"""`POST /webhooks/twilio/status`: Twilio's message status callbacks (DESIGN sections 6 and 9).

Contract:
- The signature is checked before anything else is looked up: the accounts whose SMS channel has this
  `AccountSid` are the candidates, and one whose auth token checks `X-Twilio-Signature` exactly as Twilio
  computes it (base64 HMAC-SHA1 over the URL Twilio called: the configured public URL + path when one is set,
  else the request's own URL, with and without the default port, as Twilio's own validator accepts; followed
  by each POST parameter name and value, sorted by name) is the sender. Compared in constant time. Only then is
  the message found by `MessageSid` (its provider_message_id) among that account's messages, so a stranger
  learns nothing about which SIDs exist.
- 400: MessageSid or MessageStatus missing or malformed. 403: signature missing or wrong (also for an unknown
  SID). 404: a signed callback for a SID the signing account never sent. 409: this very status of this message
  was already recorded (a replay). Each writes nothing.
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
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from backend.channels.base import DeliveryReport
from backend.channels.sms.errors import delivery_error_text
from backend.channels.sms.status import CALLBACK_PATH, delivery_success
from backend.communications import record_communication
from backend.errors import ApiError, bad_request, conflict, not_found
from backend.store.models import Account, ChannelConfig, Message
from backend.webhooks.group_commit import group_commit

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

bp = Blueprint("twilio_webhook", __name__)
#: accounts sharing one Twilio AccountSid whose tokens are tried at most.
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
    accounts = signed_sms_accounts(services, params, CALLBACK_PATH, our_number=params.get("From", ""))
    if not accounts:
        log.warning("Twilio status callback refused: missing or wrong signature")
        raise ApiError(403, "bad_signature", "The X-Twilio-Signature header is missing or does not match.")
    with services.db.read() as session:
        found = session.execute(
            select(Message.id, Message.account_id)
            .where(Message.provider_message_id == sid, Message.channel == "sms", Message.account_id.in_(accounts))
            .limit(1)
        ).first()
    if found is None:
        raise not_found("A message with this MessageSid")
    message = (found.id, found.account_id)

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
    services.delivery_job.nudge()  # the job reads what the webhook wrote, now
    return Response(status=204)


def signed_sms_accounts(services: Services, params: MultiDict[str, str], path: str, our_number: str) -> list[int]:
    """The accounts whose SMS auth token signed this request (X-Twilio-Signature), best match first; empty when
    none did. Candidates are the accounts whose SMS channel has the request's AccountSid (when several share one
    Twilio account, the one sending from `our_number` first); nothing else is read before the check."""
    signature = request.headers.get("X-Twilio-Signature", "")
    account_sid = params.get("AccountSid", "")
    if not signature or not account_sid:
        return []
    with services.db.read() as session:
        rows = session.execute(
            select(ChannelConfig.account_id, ChannelConfig.settings, Account.settings)
            .join(Account, Account.id == ChannelConfig.account_id)
            .where(ChannelConfig.channel == "sms")
        ).all()
        candidates = [r for r in rows if (r[1] or {}).get("account_sid") == account_sid]
        candidates.sort(key=lambda r: (r[1] or {}).get("from_number") != our_number)
        signed = []
        for account_id, sms_settings, account_settings in candidates[:MAX_CANDIDATES]:
            token = services.secrets.load(session, account_id, "sms").get("auth_token")
            urls = callback_urls(services, sms_settings or {}, account_settings or {}, path)
            if token and signature_matches(token, urls, params, signature):
                signed.append(int(account_id))
    return signed


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
