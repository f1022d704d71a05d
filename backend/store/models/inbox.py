"""The inbox's own tables: a thread's done state and the account's saved replies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.store.models.base import Base, Id, UTCDateTime, utcnow


class ConversationState(Base):
    """A thread marked done: it stays done while no received message is newer than `done_through` (the thread's
    newest message id when it was marked), so a new message from the contact reopens it by itself."""

    __tablename__ = "conversation_states"
    __table_args__ = (UniqueConstraint("account_id", "conversation_id", name="uq_conversation_states_thread"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    conversation_id: Mapped[str] = mapped_column(String(100))
    done_through: Mapped[int] = mapped_column(Id)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SavedReply(Base):
    """A canned answer the inbox composer inserts; names are unique per account."""

    __tablename__ = "saved_replies"
    __table_args__ = (UniqueConstraint("account_id", "name", name="uq_saved_replies_account_name"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
