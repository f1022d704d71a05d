"""`POST /webhooks/twilio/inbound`: Twilio's incoming-message webhook (DESIGN section 9, issue 15 items 2 and 3).

Twilio POSTs a form when someone texts the account's number (https://www.twilio.com/docs/messaging/guides/
webhook-request): MessageSid, AccountSid, From, To, Body, NumMedia and, per MMS attachment, MediaUrl{N} and
MediaContentType{N}, among others.

Contract:
- The account is the one whose SMS channel has this AccountSid (and, when several do, this To number); its
  auth token checks `X-Twilio-Signature` exactly as for status callbacks (backend/webhooks/twilio.py). A
  missing or wrong signature is a 403 and writes nothing. 400: MessageSid or From missing or malformed.
- The text goes into the sender's conversation through `backend.conversations.inbound.record_inbound` (an unknown
  number becomes a new contact; MMS media kept as links; STOP / START keywords act; `message.created` on /ws).
  A MessageSid already stored is applied once: the repeat changes nothing and gets the same answer.
- 200 with an empty TwiML `<Response/>` (text/xml): we answer nothing by SMS; Twilio's own opt-out handling
  answers STOP itself.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.datastructures import MultiDict

from backend.addresses import phone_or_none
from backend.conversations.inbound import Inbound, Media, record_inbound
from backend.errors import ApiError, bad_request
from backend.webhooks.group_commit import group_commit
from backend.webhooks.twilio import SID, signed_sms_accounts

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

bp = Blueprint("twilio_inbound", __name__)
INBOUND_PATH = "/webhooks/twilio/inbound"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
#: Twilio sends at most 10 media per MMS; more is not Twilio.
MAX_MEDIA = 10
MAX_BODY = 1600 * 4
SENDER = re.compile(r"^\+?[0-9A-Za-z]{2,20}$")
CONTENT_TYPE = re.compile(r"^[A-Za-z0-9.+-]{1,64}/[A-Za-z0-9.+-]{1,64}$")


def install(app: Flask, _services: Services) -> None:
    app.register_blueprint(bp)


@bp.post(INBOUND_PATH)
def twilio_inbound() -> Response:
    services: Services = current_app.extensions["bulkmsg"]
    params = request.form
    sid, sender = params.get("MessageSid", ""), params.get("From", "").strip()
    if not SID.match(sid) or not SENDER.match(sender):
        raise bad_request("A Twilio incoming message needs a MessageSid and a From number.")
    account_id = _signed_account(services, params)
    if account_id is None:
        log.warning("Twilio incoming message %s refused: missing or wrong signature", sid)
        raise ApiError(403, "bad_signature", "The X-Twilio-Signature header is missing or does not match.")
    inbound = Inbound(
        account_id=account_id,
        channel="sms",
        sender=phone_or_none(sender) or sender,
        body=params.get("Body", "")[:MAX_BODY],
        provider_message_id=sid,
        media=_media(params),
        meta={"to": params.get("To", "")[:32]},
    )
    # Committed before the answer (durable), in a transaction shared with the other webhooks of a burst.
    group_commit(services.db).run(lambda session: record_inbound(services.hub, session, inbound))
    return Response(EMPTY_TWIML, status=200, mimetype="text/xml")


def _signed_account(services: Services, params: MultiDict[str, str]) -> int | None:
    """The account whose SMS auth token signed this request, or None."""
    accounts = signed_sms_accounts(services, params, INBOUND_PATH, our_number=params.get("To", ""))
    return accounts[0] if accounts else None


def _media(params: MultiDict[str, str]) -> tuple[Media, ...]:
    """MMS attachments as links (only http(s) URLs; content types as Twilio names them)."""
    try:
        count = min(int(params.get("NumMedia", "0") or 0), MAX_MEDIA)
    except ValueError:
        return ()
    media = []
    for index in range(max(count, 0)):
        url = params.get(f"MediaUrl{index}", "")
        content_type = params.get(f"MediaContentType{index}", "")
        if url.startswith(("https://", "http://")) and len(url) <= 2000:
            media.append(Media(url, content_type if CONTENT_TYPE.match(content_type) else "application/octet-stream"))
    return tuple(media)
