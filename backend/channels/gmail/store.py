"""Storing Gmail tokens encrypted (services.secrets, scope "gmail"): after authorization and after a refresh.

- `save_authorized_tokens` replaces whatever was stored (the OAuth callback).
- `store_renewed_tokens` writes tokens a live channel renewed, but only while the stored refresh token is still
  the one they were renewed from: a late write can never undo a newer authorization.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from backend.channels.gmail.tokens import GmailTokens

if TYPE_CHECKING:
    from backend.services import Services

log = logging.getLogger(__name__)

SCOPE = "gmail"


def save_authorized_tokens(services: Services, account_id: int, tokens: GmailTokens) -> None:
    with services.db.write() as session:
        services.secrets.save(session, account_id, SCOPE, tokens.to_secrets())
