"""timing: contact time zones, campaign send windows and fallback, standby fallback messages

`contacts.timezone` (IANA name), `campaigns.send_window` and `campaigns.fallback` (JSON), `messages.zone` (the
recipient's zone a window is read in) and `messages.fallback_of` (a standby fallback row's primary message), with
a partial index of fallback rows.

Revision ID: 0013_timing
Revises: 0012_content
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013_timing"
down_revision = "0012_content"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "send_window",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "fallback", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
            )
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("zone", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("fallback_of", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_fallback_of_messages"), "messages", ["fallback_of"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index(
            "ix_messages_fallback_of",
            ["fallback_of"],
            unique=False,
            sqlite_where=sa.text("fallback_of IS NOT NULL"),
            postgresql_where=sa.text("fallback_of IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_fallback_of")
        batch_op.drop_constraint(batch_op.f("fk_messages_fallback_of_messages"), type_="foreignkey")
        batch_op.drop_column("fallback_of")
        batch_op.drop_column("zone")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("fallback")
        batch_op.drop_column("send_window")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("timezone")
