"""the delivery job's match with final communications reads one index alone

`ix_communications_final` (message_id, id, success, received_at) over final communications only: the sweep
finds each due message's first final communication (and whether it has one) by an index-only scan, without
reading the communications table or sorting.

Revision ID: 0019_speed
Revises: 0018_audience
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_speed"
down_revision = "0018_audience"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_communications_final",
            ["message_id", "id", "success", "received_at"],
            unique=False,
            sqlite_where=sa.text("success IS NOT NULL"),
            postgresql_where=sa.text("success IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.drop_index("ix_communications_final")
