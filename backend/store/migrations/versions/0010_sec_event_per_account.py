"""provider event ids unique per account

A provider event id was unique across all accounts, so one account could post (with its own webhook secret) the
event id of another account's message and make that account's genuine callback a "replay" (409). The key is now
(account, provider, event id): a repeated event is still applied once within its account.

Revision ID: 0010_sec_event_per_account
Revises: 0009_conversation_claim
"""

from __future__ import annotations

from alembic import op

revision = "0010_sec_event_per_account"
down_revision = "0009_conversation_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.drop_constraint("uq_communications_provider_event", type_="unique")
        batch_op.create_unique_constraint(
            "uq_communications_account_event", ["account_id", "provider", "provider_event_id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("communications", schema=None) as batch_op:
        batch_op.drop_constraint("uq_communications_account_event", type_="unique")
        batch_op.create_unique_constraint("uq_communications_provider_event", ["provider", "provider_event_id"])
