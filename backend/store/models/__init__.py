"""The store's tables (SQLAlchemy 2.x declarative), one module per part of the domain. Every row belongs to one
account; every table is importable from here.

Migrations in backend/store/migrations must match these models (tests/test_store.py checks it).
"""

from __future__ import annotations

from backend.store.models.accounts import Account, ApiKey, ChannelConfig, Credential, SignIn
from backend.store.models.base import NAMING, Base, Id, Json, UTCDateTime, utcnow
from backend.store.models.contacts import Contact, ContactTag, ContactTerm, Segment, Tag, Term
from backend.store.models.messages import Campaign, Communication, LeftOut, Message
from backend.store.models.upkeep import Event, InboxCursor, Lease, Media, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Account",
    "ApiKey",
    "Base",
    "Campaign",
    "ChannelConfig",
    "Communication",
    "Contact",
    "ContactTag",
    "ContactTerm",
    "Credential",
    "Event",
    "Id",
    "InboxCursor",
    "Json",
    "Lease",
    "LeftOut",
    "Media",
    "Message",
    "NAMING",
    "Segment",
    "SignIn",
    "Tag",
    "Term",
    "UTCDateTime",
    "WebhookDelivery",
    "WebhookEndpoint",
    "utcnow",
]
