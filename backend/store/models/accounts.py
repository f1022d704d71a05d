"""Accounts, their channels, stored secrets, sign-ins and API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.store.models.base import Base, Id, Json, UTCDateTime, utcnow


class Account(Base):
    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: plain settings: public_url, default_country, sendgrid_public_key (secrets live in credentials).
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChannelConfig(Base):
    """A channel's plain settings and last known state for one account (secrets: Credential)."""

    __tablename__ = "channel_configs"
    __table_args__ = (UniqueConstraint("account_id", "channel"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    settings: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    state: Mapped[str] = mapped_column(String(20), default="disconnected")
    detail: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Credential(Base):
    """One encrypted secret (Fernet) of an account: an SMTP password, OAuth tokens, a Twilio auth token."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("account_id", "scope", "name"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: a channel name, or "settings" for account-wide secrets (webhook_secret).
    scope: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(50))
    ciphertext: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class SignIn(Base):
    """One signed-in device: a browser, the desktop window or a terminal's `bulkmsg token` (DESIGN section 11).

    Every sign-in token names its row (`sid`); revoking the row ("sign out", "sign out everywhere") ends the
    token at once, and a row past `expires_at` ends it too. `expires_at` moves forward while the token is used.
    """

    __tablename__ = "sign_ins"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    user: Mapped[str] = mapped_column(String(64))
    #: `browser`, `desktop` or `terminal`
    kind: Mapped[str] = mapped_column(String(16))
    #: what the person sees in the list of devices ("Chrome on Linux", "bulkmsg token")
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiKey(Base):
    """A long-lived key for programs (DESIGN section 17): only its SHA-256 is kept; `prefix` is what lists show."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: a subset of `read` `contacts` `send` `admin` (backend/security/api_keys.py).
    scopes: Mapped[list[str]] = mapped_column(Json, default=list)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
