"""Accounts (tenants), their settings and their encrypted secrets."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend.errors import ApiError
from backend.security import api_keys
from backend.security.keys import SecretBox
from backend.security.tokens import Principal
from backend.store.db import Database
from backend.store.models import Account, ApiKey, Credential

DEFAULT_ACCOUNT = "default"


def get_or_create_account(session: Session, name: str = DEFAULT_ACCOUNT) -> Account:
    account = session.scalar(select(Account).where(Account.name == name))
    if account is None:
        account = Account(name=name, settings={})
        session.add(account)
        session.flush()
    return account


class SecretStore:
    """Encrypted per-account secrets, grouped by scope (a channel name, or "settings")."""

    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def load(self, session: Session, account_id: int, scope: str) -> dict[str, str]:
        rows = session.scalars(
            select(Credential).where(Credential.account_id == account_id, Credential.scope == scope)
        ).all()
        return {row.name: self.box.open(row.ciphertext) for row in rows}

    def save(self, session: Session, account_id: int, scope: str, values: Mapping[str, str | None]) -> None:
        """Store each value encrypted; a None value removes that secret."""
        existing = {
            row.name: row
            for row in session.scalars(
                select(Credential).where(Credential.account_id == account_id, Credential.scope == scope)
            )
        }
        for name, value in values.items():
            row = existing.get(name)
            if value is None:
                if row is not None:
                    session.delete(row)
                continue
            if row is None:
                session.add(Credential(account_id=account_id, scope=scope, name=name, ciphertext=self.box.seal(value)))
            else:
                row.ciphertext = self.box.seal(value)

    def webhook_secret(self, session: Session, account_id: int) -> str:
        """The account's secret for `/webhooks/communications`, generated on first use."""
        current = self.load(session, account_id, "settings").get("webhook_secret")
        if current:
            return current
        value = secrets.token_urlsafe(32)
        self.save(session, account_id, "settings", {"webhook_secret": value})
        return value


def account_settings(account: Account) -> dict[str, Any]:
    return dict(account.settings or {})


#: `last_used_at` is written at most this often per key, so a busy program does not write on every request.
LAST_USED_EVERY = timedelta(minutes=1)
_UNAUTHORIZED = "This API key is not valid, was revoked or has expired."


def authenticate(db: Database, token: str, now: datetime) -> tuple[Principal, frozenset[str]]:
    """(the account's principal, the key's scopes); ApiError 401 for a wrong, revoked or expired key."""
    digest = api_keys.hash_key(token)
    with db.read() as session:
        row = session.execute(
            select(
                ApiKey.id,
                ApiKey.account_id,
                ApiKey.key_hash,
                ApiKey.scopes,
                ApiKey.expires_at,
                ApiKey.revoked_at,
                ApiKey.last_used_at,
            ).where(ApiKey.key_hash == digest)
        ).first()
    valid = row is not None and hmac.compare_digest(row.key_hash, digest)
    if not valid or row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        raise ApiError(401, "unauthorized", _UNAUTHORIZED)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        with db.write() as session:
            session.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
    return Principal(account_id=row.account_id, user=f"api-key:{row.id}"), frozenset(row.scopes or ())
