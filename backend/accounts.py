"""Accounts (tenants), their settings and their encrypted secrets."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.security.keys import SecretBox
from backend.store.models import Account, Credential

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
