"""campaign outcome counters

Revision ID: 0004_campaign_counts
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_campaign_counts"
down_revision = "0001"
branch_labels = None
depends_on = None

COUNTERS = ("sent_count", "failed_count", "uncertain_count", "cancelled_count")


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name in COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        for name in reversed(COUNTERS):
            batch_op.drop_column(name)
