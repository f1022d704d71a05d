"""a campaign's variation seed

`variation_seed` on a campaign fixes which option of each `{a|b}` variation every recipient gets, so the
preview, the stored body and the sent body are the same text (DESIGN section 15).

Revision ID: 0012_content
Revises: 0011_heal_outcomes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_content"
down_revision = "0011_heal_outcomes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("variation_seed", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("variation_seed")
