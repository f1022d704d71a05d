"""What a Gmail API error answer means for a send: retry, fail the message, or pause the campaign.

Contract of `classify(status, headers, content, now)` (a non-2xx answer of `users.messages.send`):
- 429, `rateLimitExceeded`, `userRateLimitExceeded`, `backendError`, 5xx -> transient SendError, `retry_after`
  from the `Retry-After` header (seconds or an HTTP date) or from Google's "Retry after <time>" text.
- the daily sending limit (`dailyLimitExceeded`, `quotaExceeded`, "Mail sending limit exceeded", or a "Retry after"
  time more than DAILY_AFTER away) -> SendError(pause_campaign=True) saying when Google reopens the window.
- 401, or 403 for a missing permission -> `AuthRefused` (the caller refreshes once, then reports auth_failure).
- 400 `failedPrecondition` (the account cannot send mail) and other 403s -> SendError(pause_campaign=True).
- any other 4xx (an invalid recipient: 400 `invalidArgument` "Invalid To header") -> SendError(permanent=True).
Reasons are short human sentences built from Google's own message; no token, header or raw body is included.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from backend.channels.base import SendError

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "backendError", "concurrentLimitExceeded"})
DAILY_REASONS = frozenset({"dailyLimitExceeded", "quotaExceeded", "dailyLimitExceededUnreg"})
AUTH_REASONS = frozenset({"insufficientPermissions", "authError", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})
#: a "Retry after" further away than this is the daily window, not a short throttle.
DAILY_AFTER = timedelta(minutes=30)
DAILY_WINDOW = timedelta(hours=24)
_RETRY_AFTER_TEXT = re.compile(r"retry after (\d{4}-\d\d-\d\dT[0-9:.]+Z)", re.IGNORECASE)
MAX_REASON = 200


@dataclass(frozen=True)
class GoogleError:
    status: int
    message: str
    reasons: frozenset[str]


class AuthRefused(Exception):
    """Google refused the access token or its permissions; `reason` is the sentence to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_error(status: int, content: bytes | str | None) -> GoogleError:
    """Google's JSON error body as (status, message, reasons); tolerant of anything else."""
    try:
        data = json.loads(content or b"{}")
    except ValueError:
        data = {}
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return GoogleError(status, "", frozenset())
    reasons = {str(item.get("reason")) for item in error.get("errors") or [] if isinstance(item, dict)}
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            reasons.add(str(detail["reason"]))
    if error.get("status"):
        reasons.add(str(error["status"]))
    message = str(error.get("message") or "").strip()
    return GoogleError(status, message, frozenset(reasons) - {"None"})


def classify(status: int, headers: dict[str, Any], content: bytes | str | None, now: datetime) -> Exception:
    """The SendError (or AuthRefused) for one error answer; see the module docstring."""
    error = parse_error(status, content)
    said = _short(error.message)
    reopens = _retry_after_text(error.message)
    if error.reasons & DAILY_REASONS or "sending limit" in error.message.lower():
        return _daily_limit(reopens, now)
    if status >= 500:
        return SendError(f"Gmail had a server error ({status}); will retry", retry_after=retry_after_s(headers, now))
    if status == 429 or error.reasons & RATE_REASONS:
        if reopens is not None and reopens - now > DAILY_AFTER:
            return _daily_limit(reopens, now)
        wait = retry_after_s(headers, now)
        if wait is None and reopens is not None:
            wait = max((reopens - now).total_seconds(), 1.0)
        return SendError(f"Gmail is throttling sends ({status}); will retry", retry_after=wait)
    if status == 401 or (status == 403 and error.reasons & AUTH_REASONS):
        return AuthRefused("Gmail refused the authorization: click Authorize to connect Gmail again")
    if status == 400 and ("failedPrecondition" in error.reasons or "precondition" in said.lower()):
        return SendError(
            "Gmail cannot send from this account (precondition failed); check that it has Gmail enabled",
            pause_campaign=True,
        )
    if status == 403:
        return SendError(f"Gmail refused to send from this account: {said or 'forbidden'}", pause_campaign=True)
    if status == 400 and "recipient" not in said.lower() and "to header" in said.lower():
        said = f"invalid recipient ({said})"
    return SendError(f"Gmail refused the message: {said or f'HTTP {status}'}", permanent=True)


def retry_after_s(headers: dict[str, Any], now: datetime) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    raw = next((str(v) for k, v in headers.items() if str(k).lower() == "retry-after"), None)
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if raw.isascii() and raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _daily_limit(reopens: datetime | None, now: datetime) -> SendError:
    when = reopens if reopens is not None and reopens > now else now + DAILY_WINDOW
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    opens = f"at {stamp}" if reopens is not None else f"within 24 hours (by {stamp})"
    return SendError(
        f"Gmail's daily sending limit was reached; Google reopens the window {opens}. "
        "The campaign is paused: resume it then.",
        pause_campaign=True,
        retry_after=(when - now).total_seconds(),
    )


def _retry_after_text(message: str) -> datetime | None:
    found = _RETRY_AFTER_TEXT.search(message)
    if not found:
        return None
    try:
        return datetime.fromisoformat(found.group(1).replace("Z", "+00:00"))
    except ValueError:
        return None


def _short(message: str) -> str:
    text = " ".join(message.split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
