"""the inbox's done state per thread and saved replies

Revision ID: 0022_screens_views
Revises: 0021_screens_forms
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.store.models

revision = "0022_screens_views"
down_revision = "0021_screens_forms"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "conversation_states",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("conversation_id", sa.String(length=100), nullable=False),
        sa.Column("done_through", ID, nullable=False),
        sa.Column("done_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_conversation_states_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_states")),
        sa.UniqueConstraint("account_id", "conversation_id", name="uq_conversation_states_thread"),
    )
    op.create_table(
        "saved_replies",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_saved_replies_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_replies")),
        sa.UniqueConstraint("account_id", "name", name="uq_saved_replies_account_name"),
    )


def downgrade() -> None:
    op.drop_table("saved_replies")
    op.drop_table("conversation_states")
