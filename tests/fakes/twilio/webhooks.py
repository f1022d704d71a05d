"""The webhooks the fake Twilio sends: a message's signed status callback and an incoming message, each shaped as
Twilio documents it (tests/fakes/twilio/__init__.py names the sources)."""

from __future__ import annotations

import threading
import time
from email.utils import format_datetime
from typing import Any

import requests

from backend.store.models import utcnow
from tests.fakes.twilio.protocol import Callback, new_sid, twilio_signature


class Webhooks:
    """The webhook side of FakeTwilio (its account, messages and HTTP session)."""

    account_sid: str
    auth_token: str
    messages: dict[str, dict[str, Any]]
    callbacks: list[Callback]
    _lock: threading.Lock
    _callback_http: requests.Session

    def deliver(self, sid: str, status: str = "delivered", error_code: str | None = None) -> int | None:
        """Move the message to `status` and POST its signed status callback; returns our server's HTTP status.

        Returns None when the message was created without a StatusCallback (nothing to call).
        """
        with self._lock:
            message = self.messages[sid]
            message["status"] = status
            message["error_code"] = int(error_code) if error_code else None
            message["date_updated"] = format_datetime(utcnow(), usegmt=True)
            url = message.get("_callback")
        if not url:
            return None
        params = self.callback_params(message, status, error_code)
        signature = twilio_signature(self.auth_token, url, params)
        return self.post_callback(url, params, signature)

    def inbound_params(
        self, from_: str, body: str, *, to: str = "+15005550006", media: tuple[tuple[str, str], ...] = (), sid: str = ""
    ) -> dict[str, str]:
        """The form of Twilio's incoming-message webhook (see the module's docstring for the source)."""
        sid = sid or new_sid("MM" if media else "SM")
        params = {
            "ToCountry": "US",
            "ToState": "CA",
            "SmsMessageSid": sid,
            "NumMedia": str(len(media)),
            "ToCity": "",
            "FromZip": "",
            "SmsSid": sid,
            "FromState": "CA",
            "SmsStatus": "received",
            "FromCity": "SAN FRANCISCO",
            "Body": body,
            "FromCountry": "US",
            "To": to,
            "ToZip": "",
            "NumSegments": str(max(1, -(-len(body) // 153))),
            "MessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "ApiVersion": "2010-04-01",
        }
        for index, (url, content_type) in enumerate(media):
            params[f"MediaContentType{index}"] = content_type
            params[f"MediaUrl{index}"] = url
        return params

    def send_inbound(
        self, url: str, from_: str, body: str, *, forge: bool = False, **options: Any
    ) -> tuple[int, str, str, dict[str, str]]:
        """POST a signed incoming-message webhook to `url`: (status, content type, body, the form sent).

        forge=True signs with a wrong token (what a forger without the auth token can do)."""
        params = self.inbound_params(from_, body, **options)
        token = "not-the-auth-token" if forge else self.auth_token
        headers = {
            "User-Agent": "TwilioProxy/1.1",
            "X-Twilio-Signature": twilio_signature(token, url, params),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        response = self._callback_http.post(url, data=params, headers=headers, timeout=10)
        return response.status_code, response.headers.get("Content-Type", ""), response.text, params

    def callback_params(self, message: dict[str, Any], status: str, error_code: str | None) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "From": message["from"],
            "MessageSid": message["sid"],
            "MessageStatus": status,
            "SmsSid": message["sid"],
            "SmsStatus": status,
            "To": message["to"],
        }
        if error_code:
            params["ErrorCode"] = error_code
        return params

    def post_callback(self, url: str, params: dict[str, str], signature: str | None) -> int | None:
        headers = {"User-Agent": "TwilioProxy/1.1"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        started = time.perf_counter()
        try:
            response = self._callback_http.post(url, data=params, headers=headers, timeout=10)
            code: int | None = response.status_code
        except requests.RequestException:
            code = None
        with self._lock:
            self.callbacks.append(Callback(url, params, signature or "", code, time.perf_counter() - started))
        return code
