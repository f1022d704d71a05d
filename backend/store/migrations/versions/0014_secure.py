"""sign-ins: one row per signed-in device, so a sign-in token can be revoked ("sign out everywhere")

Revision ID: 0014_secure
Revises: 0013_timing
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.store.models

revision = "0014_secure"
down_revision = "0013_timing"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_ins",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.Column("last_used_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", backend.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sign_ins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_ins_account_id"), ["account_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sign_ins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_ins_account_id"))
    op.drop_table("sign_ins")
