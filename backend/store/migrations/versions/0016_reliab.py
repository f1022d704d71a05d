"""when a claimed message's content started to go out

`send_started_at` on a `sending` message: set, in a commit of its own fenced on the lease, just before the
message's content goes to the provider. Every machine sharing the database can then tell a lost machine's claim
that never started (queued again) from a send that may have reached the provider (`uncertain`).

Revision ID: 0016_reliab
Revises: 0015_integ
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.store.models

revision = "0016_reliab"
down_revision = "0015_integ"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("send_started_at", backend.store.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("send_started_at")
