"""queued conversation messages have an index of their own: a support reply is claimed ahead of a campaign's
queue without reading through it

Revision ID: 0009_conversation_claim
Revises: 0008_campaign_resume
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_conversation_claim"
down_revision = "0008_campaign_resume"
branch_labels = None
depends_on = None

WHERE = "status = 'queued' AND campaign_id IS NULL"


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_claim_conversation",
            ["channel", "next_attempt_at"],
            unique=False,
            sqlite_where=sa.text(WHERE),
            postgresql_where=sa.text(WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_claim_conversation", sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE)
        )
