"""An inbox outage as `GET /api/health` and the SMTP channel show it (issue 23 item 5).

Sending does not depend on the inbox, so an inbox that cannot be read is not a store problem (no 503): health
stays 200 and lists it under `warnings`, without the server's name (health answers without a token); the SMTP
channel's `detail` gets the full reason and `inbox` says when the next try is due.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backend.store.models import utcnow

if TYPE_CHECKING:
    from backend.services import Services


def _kind(reason: str) -> str:
    text = reason.lower()
    if "user name or password" in text:
        return "the mail server refused the login"
    if "certificate" in text:
        return "the mail server's TLS certificate is not trusted"
    if "timed out" in text or "timeout" in text:
        return "the mail server did not answer in time"
    if "refused" in text:
        return "the mail server refused the connection"
    return "the mail server cannot be reached"


def health_warnings(services: Services) -> list[dict[str, Any]]:
    """One warning per inbox that cannot be read now (none when every inbox can be, or none is watched)."""
    watcher = services.inbox_watcher
    if watcher is None:
        return []
    out = []
    for outage in watcher.outages().values():
        wait = max(1, round((outage.retry_at - utcnow()).total_seconds()))
        out.append(
            {
                "code": "inbox_unreachable",
                "message": f"An email inbox (IMAP) cannot be read: {_kind(outage.reason)}; trying again in {wait} s.",
                "fix": "Replies and bounces are read as soon as the mail server answers; check the SMTP channel.",
                "since": outage.since.isoformat(),
                "retry_at": outage.retry_at.isoformat(),
            }
        )
    return out


def with_inbox_state(services: Services, account_id: int, channels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`GET /api/channels`'s items, the SMTP one with its inbox's outage (reason and next try) when it has one."""
    watcher = services.inbox_watcher
    outage = watcher.outage(account_id) if watcher is not None else None
    for item in channels:
        if item.get("channel") != "smtp" or outage is None:
            continue
        sentence = outage.sentence()
        item["detail"] = f"{item.get('detail') or ''}; {sentence}".lstrip("; ")
        # One `inbox` object: what was read (mails set aside) and whether the server answers.
        item["inbox"] = {
            **(item.get("inbox") or {}),
            "state": "error",
            "reason": outage.reason,
            "retry_at": outage.retry_at.isoformat(),
        }
    return channels
