"""Campaigns, their messages (the outbox and the inbox), communications and left-out recipients."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from backend.store import states
from backend.store.models.base import Base, Id, Json, UTCDateTime, utcnow


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
