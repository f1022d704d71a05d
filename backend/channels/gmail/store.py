"""Storing Gmail tokens encrypted (services.secrets, scope "gmail"): after authorization and after a refresh.

- `save_authorized_tokens` replaces whatever was stored (the OAuth callback).
- `store_renewed_tokens` writes tokens a live channel renewed, but only while the stored refresh token is still
  the one they were renewed from: a late write can never undo a newer authorization.
- `flush_renewed_tokens(services)` stores what every live Gmail channel renewed (a 5-second job and on stop).
"""

from __future__ import annotations

import logging
from typing import Any

from backend.channels.gmail.tokens import GmailTokens

log = logging.getLogger(__name__)

SCOPE = "gmail"


def save_authorized_tokens(services: Any, account_id: int, tokens: GmailTokens) -> None:
    with services.db.write() as session:
        services.secrets.save(session, account_id, SCOPE, tokens.to_secrets())


def store_renewed_tokens(services: Any, account_id: int, renewed_from: str | None, tokens: GmailTokens) -> bool:
    """Store `tokens` if the stored refresh token is still `renewed_from`; True when stored."""
    with services.db.write() as session:
        stored = services.secrets.load(session, account_id, SCOPE).get("refresh_token")
        if stored != renewed_from:
            log.info("renewed Gmail tokens of account %s not stored: a newer authorization exists", account_id)
            return False
        services.secrets.save(session, account_id, SCOPE, tokens.to_secrets())
    return True


def flush_renewed_tokens(services: Any) -> int:
    """Store the tokens each live Gmail channel renewed since the last flush; returns how many were stored."""
    stored = 0
    for account_id, name, channel in services.parts["channels"].live():
        take = getattr(channel, "take_unsaved_tokens", None)
        if name != "gmail" or take is None:
            continue
        pending = take()
        if pending is None:
            continue
        renewed_from, tokens = pending
        try:
            stored += store_renewed_tokens(services, account_id, renewed_from, tokens)
        except Exception:
            log.exception("storing renewed Gmail tokens of account %s failed", account_id)
    return stored
