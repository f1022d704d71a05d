"""campaign resume_at: a pause the channel asked for until a known time (Gmail's daily sending window)

Revision ID: 0008_campaign_resume
Revises: 0004_campaign_counts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.models import UTCDateTime

revision = "0008_campaign_resume"
down_revision = "0004_campaign_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resume_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("resume_at")
