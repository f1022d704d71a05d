"""mails the inbox could not read, set aside

`inbox_cursors.set_aside`: the mails of that folder that could not be read (kept in the folder, named by UID
with the reason), shown in the SMTP channel's inbox status.

Revision ID: 0017_inbox
Revises: 0016_reliab
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.store.models

revision = "0017_inbox"
down_revision = "0016_reliab"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox_cursors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("set_aside", backend.store.models.Json, nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("inbox_cursors", schema=None) as batch_op:
        batch_op.drop_column("set_aside")
