"""what a failure or an uncertain send turned out to be

`failure_kind` on a failed message: `permanent` (the provider will never take it: a hard bounce, an invalid
number) or `exhausted` (transient errors until the attempt limit); only `exhausted` ones are offered for retry.
`reconcile_state` / `reconcile_next_at` on an uncertain message: where the provider can be asked, the check's
state (`absent`: the provider surely never got it, safe to send again; `unknown`: it cannot be told) and when
the next check is due.

Revision ID: 0011_heal_outcomes
Revises: 0010_twoway_inbound
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.store.models

revision = "0011_heal_outcomes"
down_revision = "0010_ux_contact_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure_kind", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("reconcile_state", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("reconcile_next_at", backend.store.models.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("reconcile_next_at")
        batch_op.drop_column("reconcile_state")
        batch_op.drop_column("failure_kind")
