"""The tables of sequences (DESIGN section 18): who is enrolled in which sequence, and each step sent.

A sequence itself is a campaign row with `kind` `sequence` (backend/store/models.py); its steps sit in the
campaign's `sequence` JSON.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from backend.store.models.base import Base, Id, UTCDateTime, utcnow

ACTIVE = "active"
COMPLETED = "completed"
EXITED = "exited"
ENROLLMENT_STATUSES = (ACTIVE, COMPLETED, EXITED)


class SequenceEnrollment(Base):
    """One contact's way through one sequence.

    `step` counts the steps sent so far (0 to the number of steps). While `message_id` is set, that step's
    message is on its way (queued, sending or uncertain) and nothing else is due; otherwise the next step is due
    at `next_at`. The engine claims a due enrolment with a lease (`lease_owner`, `lease_until`) as the
    dispatcher claims messages: two processes never make one step twice."""

    __tablename__ = "sequence_enrollments"
    __table_args__ = (
        # Once per contact, unless the sequence allows re-entry (then `entry` counts the times).
        UniqueConstraint("campaign_id", "contact_id", "entry", name="uq_sequence_enrollments_entry"),
        # At most one active enrolment of a contact in a sequence, whatever the path that enrolled them.
        Index(
            "uq_sequence_enrollments_active",
            "campaign_id",
            "contact_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        # The engine's claim: active enrolments with no step on its way, in due order.
        Index(
            "ix_sequence_enrollments_due",
            "next_at",
            "id",
            sqlite_where=text("status = 'active' AND message_id IS NULL"),
            postgresql_where=text("status = 'active' AND message_id IS NULL"),
        ),
        Index("ix_sequence_enrollments_contact", "contact_id", "status"),
        Index("ix_sequence_enrollments_campaign", "campaign_id", "status", "id"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    entry: Mapped[int] = mapped_column(Integer, default=1)
    #: active | completed | exited
    status: Mapped[str] = mapped_column(String(20), default=ACTIVE)
    step: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: how the contact came in: `tag_added`, `contact_created`, `inbound_message` or `manual`.
    source: Mapped[str] = mapped_column(String(20), default="manual")
    #: when the tag was put on (or the contact made) that enrolled them: with re-entry, a later tagging only.
    trigger_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: an exited enrolment: `reply`, `opt_out`, `failed` (a step could not be sent) or `cancelled`.
    exit_reason: Mapped[str | None] = mapped_column(String(20))
    exit_detail: Mapped[str | None] = mapped_column(Text)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SequenceSend(Base):
    """A step of an enrolment made into its message: unique per (enrolment, step), so a step is made once even
    if two writers got past every other fence."""

    __tablename__ = "sequence_sends"
    __table_args__ = (
        UniqueConstraint("enrollment_id", "step", name="uq_sequence_sends_step"),
        Index("ix_sequence_sends_campaign", "campaign_id", "step"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    enrollment_id: Mapped[int] = mapped_column(ForeignKey("sequence_enrollments.id", ondelete="CASCADE"))
    #: 1-based: the first step is 1.
    step: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
