"""claim indexes per queue: a claim reads only the messages it takes

Queued conversation messages of an account's channel, and queued messages of each campaign, each have a partial
index whose columns give the claim's order (next_attempt_at, id). The one index over every queued message of a
channel (ix_messages_claim) made a claim read through the queued messages of drafts and paused campaigns ahead of
the running one (40 ms a claim behind a 200,000-message draft), and PostgreSQL sorted them all.

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

CONVERSATION = "status = 'queued' AND campaign_id IS NULL"
CAMPAIGN = "status = 'queued' AND campaign_id IS NOT NULL"
QUEUED = "status = 'queued'"


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_claim_conversation",
            ["account_id", "channel", "next_attempt_at", "id"],
            unique=False,
            sqlite_where=sa.text(CONVERSATION),
            postgresql_where=sa.text(CONVERSATION),
        )
        batch_op.create_index(
            "ix_messages_claim_campaign",
            ["campaign_id", "next_attempt_at", "id"],
            unique=False,
            sqlite_where=sa.text(CAMPAIGN),
            postgresql_where=sa.text(CAMPAIGN),
        )
        batch_op.drop_index("ix_messages_claim", sqlite_where=sa.text(QUEUED), postgresql_where=sa.text(QUEUED))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messages_claim",
            ["channel", "next_attempt_at"],
            unique=False,
            sqlite_where=sa.text(QUEUED),
            postgresql_where=sa.text(QUEUED),
        )
        batch_op.drop_index(
            "ix_messages_claim_campaign", sqlite_where=sa.text(CAMPAIGN), postgresql_where=sa.text(CAMPAIGN)
        )
        batch_op.drop_index(
            "ix_messages_claim_conversation", sqlite_where=sa.text(CONVERSATION), postgresql_where=sa.text(CONVERSATION)
        )
