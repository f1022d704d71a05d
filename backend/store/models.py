"""The store's tables (SQLAlchemy 2.x declarative). Every row belongs to one account.

Migrations in backend/store/migrations must match these models (tests/test_store.py checks it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from backend.store import states

# Ids: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Stored as naive UTC (portable across SQLite and PostgreSQL); always read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


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


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("account_id", "phone", name="uq_contacts_account_phone"),
        UniqueConstraint("account_id", "email", name="uq_contacts_account_email"),
        # A segment's count groups the matched contacts by `reach` (backend/audience/reach.py).
        Index("ix_contacts_reach", "account_id", "reach"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(320))
    fields: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: per channel family (`sms` `email` `whatsapp`) or `all`: {"at": ISO time, "why": stop | unsubscribe |
    #: hard_bounce | by_hand}; a family absent is not opted out (backend/contacts/optouts.py).
    opt_outs: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default=text("'{}'"))
    #: folded name, email and phone digits (backend/store/search_key.py), written with every change.
    search_key: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    #: the contact's IANA time zone (checked against zoneinfo when written); null: found from the phone.
    timezone: Mapped[str | None] = mapped_column(String(64))
    #: what a filter reads (backend.store.derived.py), written with every change: the folded name, the ISO
    #: country of the phone, and the custom fields as folded text ("t") and as numbers where they are ("n").
    name_key: Mapped[str] = mapped_column(String(200), default="", server_default="")
    country: Mapped[str | None] = mapped_column(String(2))
    fields_key: Mapped[dict[str, Any]] = mapped_column(Json, default=dict, server_default=text("'{}'"))
    #: who can reach the contact, as bits (backend/audience/reach.py): written by the database's triggers on every
    #: insert and change of phone, email or opt-outs (migration 0020_scale); never written by the app.
    reach: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    #: the contact's tags (table contact_tags), by name.
    tags: Mapped[list[Tag]] = relationship(secondary="contact_tags", order_by="Tag.name_key")

    @property
    def opted_out(self) -> bool:
        """Opted out of everything (the API's `opted_out`)."""
        return "all" in (self.opt_outs or {})


class Tag(Base):
    """A label on contacts; names are unique per account compared case- and accent-folded (`name_key`)."""

    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("account_id", "name_key", name="uq_tags_account_name_key"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100))
    color: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ContactTag(Base):
    """A tag on a contact (both of one account)."""

    __tablename__ = "contact_tags"
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True)


class Segment(Base):
    """A saved filter (backend/audience/filters.py)."""

    __tablename__ = "segments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    filter: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


#: Byte order on PostgreSQL too, so that a prefix is one index range (`term >= q AND term < q || U+10FFFF`).
Term = String(100).with_variant(String(100, collation="C"), "postgresql")


class ContactTerm(Base):
    """One entry of the contact search index: a folded word, name, email or phone digits of a contact."""

    __tablename__ = "contact_terms"
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    term: Mapped[str] = mapped_column(Term, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True)


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    #: what it was built from (backend/audience/selection.py: contact_ids, all, tags, segment_id or filter, with
    #: `exclude`) and `resolved`: how many matched, were opted out or had no address when it was created.
    recipients: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: {"per_minute", "min_delay_s", "max_delay_s", "daily_cap", "max_consecutive_errors"}
    rate: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: quiet hours (DESIGN section 16): {"days", "start", "end", "timezone"}; null: any time.
    send_window: Mapped[dict[str, Any] | None] = mapped_column(Json)
    #: fallback steps (DESIGN section 16): [{"channel", "on", "body"?}]; null: none.
    fallback: Mapped[list[Any] | None] = mapped_column(Json)
    status: Mapped[str] = mapped_column(String(20), default=states.DRAFT)
    status_reason: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    #: kept by the dispatcher in each batch's transaction (no COUNT per message); reconciled on resume.
    sent_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    uncertain_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancelled_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: fixes each recipient's `{a|b}` variation options (backend/campaigns/variations.py).
    variation_seed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: [{"media_id", "as_document"}]: files every message of the campaign carries (DESIGN section 15).
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list, server_default="[]")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: a campaign the channel paused until a known time (Gmail's daily window): the campaign job resumes it then.
    resume_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """The outbox row (DESIGN section 4 and 5)."""

    __tablename__ = "messages"
    __table_args__ = (
        # The dispatcher's claims: conversation messages of an account's channel, and each campaign's messages,
        # read in claim order (next_attempt_at, id) from indexes of queued rows only (migration 0009).
        Index(
            "ix_messages_claim_conversation",
            "account_id",
            "channel",
            "next_attempt_at",
            "id",
            sqlite_where=text(f"status = '{states.QUEUED}' AND campaign_id IS NULL"),
            postgresql_where=text(f"status = '{states.QUEUED}' AND campaign_id IS NULL"),
        ),
        Index(
            "ix_messages_claim_campaign",
            "campaign_id",
            "next_attempt_at",
            "id",
            sqlite_where=text(f"status = '{states.QUEUED}' AND campaign_id IS NOT NULL"),
            postgresql_where=text(f"status = '{states.QUEUED}' AND campaign_id IS NOT NULL"),
        ),
        # The delivery job's claim reads only sent rows whose delivery is unknown: an idle sweep over a
        # store of settled messages touches no row.
        Index(
            "ix_messages_delivery_due",
            "delivery_next_check_at",
            sqlite_where=text(f"status = '{states.SENT}' AND delivered IS NULL AND delivery_expired = 0"),
            postgresql_where=text(f"status = '{states.SENT}' AND delivered IS NULL AND NOT delivery_expired"),
        ),
        Index("ix_messages_sender", "account_id", "sender_type", "sender_id", "status"),
        # A contact's thread (campaign messages, replies and inbound messages on every channel).
        Index("ix_messages_contact", "contact_id", "id"),
        # An inbound message is stored once per provider id (a repeated webhook or a re-read mail).
        Index(
            "uq_messages_inbound",
            "account_id",
            "channel",
            "provider_message_id",
            unique=True,
            sqlite_where=text("direction = 'in'"),
            postgresql_where=text("direction = 'in'"),
        ),
        # Unread inbound messages per conversation (the conversations list's counts).
        Index(
            "ix_messages_unread",
            "account_id",
            "sender_id",
            sqlite_where=text("direction = 'in' AND read_at IS NULL"),
            postgresql_where=text("direction = 'in' AND read_at IS NULL"),
        ),
        Index("ix_messages_provider_id", "provider_message_id"),
        Index("ix_messages_sent_window", "account_id", "channel", "sent_at"),
        # A primary's standby fallback rows (DESIGN section 16).
        Index(
            "ix_messages_fallback_of",
            "fallback_of",
            sqlite_where=text("fallback_of IS NOT NULL"),
            postgresql_where=text("fallback_of IS NOT NULL"),
        ),
        # Leases of rows in `sending`: found again after a crash.
        Index(
            "ix_messages_sending",
            "lease_until",
            sqlite_where=text(f"status = '{states.SENDING}'"),
            postgresql_where=text(f"status = '{states.SENDING}'"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    #: `out` (sent by us) or `in` (received: `recipient` is then the sender, status `received`).
    direction: Mapped[str] = mapped_column(String(3), default="out", server_default="out")
    recipient: Mapped[str] = mapped_column(String(320))
    recipient_name: Mapped[str | None] = mapped_column(String(200))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    #: set for campaign messages (sender_id is the same id as text): the claim skips paused campaigns.
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    sender_type: Mapped[str] = mapped_column(String(20))  # "campaign" | "conversation"
    sender_id: Mapped[str] = mapped_column(String(100))
    #: states.MessageStatus: queued | sending | sent | failed | uncertain | cancelled
    status: Mapped[str] = mapped_column(String(20), default=states.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: while `sending`: when its content started to go out to the provider (null: not yet, so a lost machine's
    #: claim can be queued again); set in a commit of its own, fenced on the lease (DESIGN section 12).
    send_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered: Mapped[bool | None] = mapped_column(Boolean)
    delivery_expired: Mapped[bool] = mapped_column(Boolean, default=False)
    delivery_check_attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivery_next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivery_lease_owner: Mapped[str | None] = mapped_column(String(100))
    delivery_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the API's `metadata` field (SQLAlchemy reserves the attribute name): holds communication_id.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", Json, default=dict)
    #: the recipient's IANA zone a campaign's send window is read in (null: no window, or a fixed zone).
    zone: Mapped[str | None] = mapped_column(String(64))
    #: a fallback row (status `standby` until its primary's outcome calls for it): the primary message's id.
    fallback_of: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: a failed message: `permanent` (never retried) or `exhausted` (transient errors up to the attempt limit).
    failure_kind: Mapped[str | None] = mapped_column(String(20))
    #: an uncertain message checked with the provider: null (to check, where it can be asked), `absent` (the
    #: provider never got it: safe to send again) or `unknown` (cannot be told); `reconcile_next_at`: when next.
    reconcile_state: Mapped[str | None] = mapped_column(String(20))
    reconcile_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when someone read an inbound message in the app (null: unread).
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Communication(Base):
    """A provider delivery log line; a repeated provider event is stored (and applied) once."""

    __tablename__ = "communications"
    __table_args__ = (
        # Per account: one account's event ids can never make another account's genuine event a replay.
        UniqueConstraint("account_id", "provider", "provider_event_id", name="uq_communications_account_event"),
        Index("ix_communications_message", "message_id", "success"),
        # The delivery job's match of a message with its first final communication reads this index alone (the
        # index-only scan of migration 0012): every column it needs, final communications only.
        Index(
            "ix_communications_final",
            "message_id",
            "id",
            "success",
            "received_at",
            sqlite_where=text("success IS NOT NULL"),
            postgresql_where=text("success IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    #: `conv_message_id` in the original system.
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(30))
    provider_event_id: Mapped[str] = mapped_column(String(255))
    provider_status: Mapped[str] = mapped_column(String(40))
    success: Mapped[bool | None] = mapped_column(Boolean)
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_text: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """The persisted activity log; ids grow monotonically and are the WebSocket resume point."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_account_id", "account_id", "id"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    ts: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    type: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(10), default="info")
    text: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)


class InboxCursor(Base):
    """How far an account's mailbox has been read: the highest UID applied under one UIDVALIDITY."""

    __tablename__ = "inbox_cursors"
    __table_args__ = (UniqueConstraint("account_id", "channel", "folder"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(20))
    folder: Mapped[str] = mapped_column(String(200))
    uid_validity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    #: mails that could not be read, set aside (kept in the folder): [{"uid", "reason", "at"}], newest last.
    set_aside: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list, server_default=text("'[]'"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Lease(Base):
    """A named, renewable lease held by one process (e.g. `whatsapp:<account>`: one live WhatsApp session)."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    until: Mapped[datetime] = mapped_column(UTCDateTime)


class Media(Base):
    """A file of an account's media library, stored once by content hash under the data directory."""

    __tablename__ = "media"
    __table_args__ = (UniqueConstraint("account_id", "sha256", name="uq_media_account_sha256"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    #: image | video | audio | document
    kind: Mapped[str] = mapped_column(String(20))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeftOut(Base):
    """A contact a campaign did not send to, and why (opted out of the channel, no address for it), kept so the
    monitor and the export can name them (DESIGN section 14's "nobody left out silently")."""

    __tablename__ = "campaign_left_out"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str | None] = mapped_column(String(320))
    #: opted_out | no_address
    reason: Mapped[str] = mapped_column(String(20))
    #: in words: "opted out of SMS on 2026-11-02 (replied STOP)"
    detail: Mapped[str] = mapped_column(Text, default="")


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


class WebhookEndpoint(Base):
    """A receiver of outgoing webhooks; `cursor` is the last event id turned into its deliveries.

    The secret (and the previous one, which signs too until `previous_secret_until`) is sealed like credentials.
    A process works an endpoint only while it holds its lease (`lease_owner`, `lease_until`)."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    #: event types, or ["*"].
    events: Mapped[list[str]] = mapped_column(Json, default=list)
    include_body: Mapped[bool] = mapped_column(Boolean, default=False)
    secret: Mapped[str] = mapped_column(Text)
    previous_secret: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    #: when the current run of failed attempts began (null after a success): 5 days of it disables.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """One event for one endpoint: its signed body is fixed when made, so every retry sends the same bytes."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_webhook_deliveries_endpoint_event"),
        Index("ix_webhook_deliveries_due", "endpoint_id", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    #: the event it carries (null for `webhook.test`).
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    #: the `webhook-id` header: the same on every attempt.
    webhook_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    #: `pending` (due at `next_attempt_at`), `succeeded`, `failed` (gave up, or the endpoint was disabled).
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    response_status: Mapped[int | None] = mapped_column(Integer)
    #: at most 1 KB of the receiver's answer.
    response_body: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
