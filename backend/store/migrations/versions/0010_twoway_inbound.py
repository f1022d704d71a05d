"""two-way conversations: message direction and read time, per-family contact opt-outs, mailbox cursors

- messages.direction (`out` / `in`) and messages.read_at; a contact's thread index, a unique index of inbound
  provider ids (a repeated webhook or mail is stored once) and a partial index of unread inbound messages.
- contacts.opt_outs (JSON: family -> {at, why}) replaces the single opted_out flag: a contact opted out before
  becomes opted out of `all`, by hand, at the same time.
- inbox_cursors: the highest IMAP UID applied per account, channel and folder (under its UIDVALIDITY).

Revision ID: 0010_twoway_inbound
Revises: 0010_sec_event_per_account
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import backend.store.models

revision = "0010_twoway_inbound"
down_revision = "0010_sec_event_per_account"
branch_labels = None
depends_on = None

INBOUND = "direction = 'in'"
UNREAD = "direction = 'in' AND read_at IS NULL"
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbox_cursors",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uid_validity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_inbox_cursors_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_cursors")),
        sa.UniqueConstraint("account_id", "channel", "folder", name=op.f("uq_inbox_cursors_account_id")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("direction", sa.String(length=3), server_default="out", nullable=False))
        batch_op.add_column(sa.Column("read_at", backend.store.models.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_messages_contact", ["contact_id", "id"], unique=False)
        batch_op.create_index(
            "uq_messages_inbound",
            ["account_id", "channel", "provider_message_id"],
            unique=True,
            sqlite_where=sa.text(INBOUND),
            postgresql_where=sa.text(INBOUND),
        )
        batch_op.create_index(
            "ix_messages_unread",
            ["account_id", "sender_id"],
            unique=False,
            sqlite_where=sa.text(UNREAD),
            postgresql_where=sa.text(UNREAD),
        )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opt_outs", Json, server_default=sa.text("'{}'"), nullable=False))
    contacts = sa.table(
        "contacts",
        sa.column("id", sa.Integer()),
        sa.column("opted_out", sa.Boolean()),
        sa.column("opted_out_at", backend.store.models.UTCDateTime()),
        sa.column("opt_outs", Json),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(contacts.c.id, contacts.c.opted_out_at).where(contacts.c.opted_out)).all()
    for contact_id, at in rows:
        stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z") if at else None
        bind.execute(
            contacts.update()
            .where(contacts.c.id == contact_id)
            .values(opt_outs={"all": {"at": stamp, "why": "by_hand"}})
        )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("opted_out_at")
        batch_op.drop_column("opted_out")


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opted_out", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("opted_out_at", backend.store.models.UTCDateTime(), nullable=True))
        batch_op.drop_column("opt_outs")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_unread", sqlite_where=sa.text(UNREAD), postgresql_where=sa.text(UNREAD))
        batch_op.drop_index("uq_messages_inbound", sqlite_where=sa.text(INBOUND), postgresql_where=sa.text(INBOUND))
        batch_op.drop_index("ix_messages_contact")
        batch_op.drop_column("read_at")
        batch_op.drop_column("direction")
    op.drop_table("inbox_cursors")
