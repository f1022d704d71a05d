"""Contacts, their tags, saved segments, search terms and the imports that can be undone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backend.store.models.base import Base, Id, Json, UTCDateTime, utcnow


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("account_id", "phone", name="uq_contacts_account_phone"),
        UniqueConstraint("account_id", "email", name="uq_contacts_account_email"),
        # A sequence triggered by new contacts reads the ones created since it last looked (migration 0020).
        Index("ix_contacts_account_created", "account_id", "created_at"),
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
    #: insert and change of phone, email or opt-outs (migration 0023_scale); never written by the app.
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
    #: a sequence triggered by a tag reads the links made since it last looked (migration 0020).
    __table_args__ = (Index("ix_contact_tags_tag_added", "tag_id", "created_at"),)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True)
    #: when the tag was put on (the database's clock, so every path that tags a contact sets it).
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, server_default=text("CURRENT_TIMESTAMP"))


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


class ContactImport(Base):
    """One import of a contacts file, kept so that it can be undone within a day (backend/contacts/import_undo.py).
    Only an account's latest import keeps its undo rows."""

    __tablename__ = "contact_imports"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    #: {"imported", "updated", "unchanged", "skipped"}
    counts: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: the import's own time stamp: what it wrote carries it as `updated_at`, so a later change is told apart.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContactImportRow(Base):
    """A contact an import created (`before` null) or changed (`before`: its name, phone, email, fields, time zone
    and tag ids as they were)."""

    __tablename__ = "contact_import_rows"
    import_id: Mapped[int] = mapped_column(ForeignKey("contact_imports.id", ondelete="CASCADE"), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True, index=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(Json)
