"""Twilio's protocol as the fake speaks it: its paths, request signature, SIDs, error body and the Message list's
filters (the sources are named in tests/fakes/twilio/__init__.py), and what the fake records."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

API = "/2010-04-01/Accounts/"
ACCOUNT_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)\.json$")
MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")
MESSAGE_PATH = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json$")
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def twilio_signature(auth_token: str, url: str, params: dict[str, str] | list[tuple[str, str]]) -> str:
    """X-Twilio-Signature for a POST to `url` with form `params` (Twilio's documented algorithm)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    data = url + "".join(name + value for name, value in sorted(pairs))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


@dataclass
class Failure:
    """A programmed failure for one To number; `times` None means every time."""

    #: invalid | not_mobile | unsubscribed | rate_limited | server_error | slow (stored, answered late) | lost
    #: (never stored, answered late: the request never reached Twilio's records)
    kind: str
    retry_after: int = 1
    delay_s: float = 2.0
    times: int | None = None


@dataclass
class Received:
    method: str
    path: str
    form: dict[str, str]
    authorized: bool


@dataclass
class Callback:
    url: str
    params: dict[str, str]
    signature: str
    status_code: int | None
    latency_s: float


def list_filter(query: dict[str, str]) -> Any:
    """The documented filters of the Message list: To, From, DateSent (=, <, >) on the UTC date sent."""
    from email.utils import parsedate_to_datetime

    def sent_day(message: dict[str, Any]) -> str | None:
        raw = message.get("date_sent")
        return parsedate_to_datetime(raw).date().isoformat() if raw else None

    def keep(message: dict[str, Any]) -> bool:
        if "To" in query and message["to"] != query["To"]:
            return False
        if "From" in query and message["from"] != query["From"]:
            return False
        day = sent_day(message)
        if "DateSent" in query and day != query["DateSent"]:
            return False
        if "DateSent<" in query and (day is None or day > query["DateSent<"]):
            return False
        return not ("DateSent>" in query and (day is None or day < query["DateSent>"]))

    return keep


def error_answer(status: int, code: int, message: str, headers: dict | None = None) -> tuple[int, dict, dict]:
    body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
    return status, {**body, "status": status}, headers or {}
