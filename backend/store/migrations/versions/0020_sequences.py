"""sequences (drip): enrolments and the steps sent

On `campaigns` the `kind` (`campaign` or `sequence`), a sequence's definition (`sequence`) and how far its trigger
has looked (`trigger_checked_at`); `sequence_enrollments` (who is at which step, with a claim lease) and
`sequence_sends` (each step made into a message once); `contact_tags.created_at` (when a tag was put on, by the
database's clock, so a sequence triggered by a tag sees every path that tags) and an index of contacts by
creation time (a sequence triggered by new contacts).

Revision ID: 0020_sequences
Revises: 0019_speed
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.store.models

revision = "0020_sequences"
down_revision = "0019_speed"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = backend.store.models.Json
UTC = backend.store.models.UTCDateTime


def _add_tag_times() -> None:
    """`contact_tags.created_at`, filled by the database on every insert; the links made before stay null (they
    were not made after any sequence started)."""
    if op.get_bind().dialect.name == "postgresql":
        # now() is in the session's zone once stored without one: name UTC.
        default = sa.text("(now() AT TIME ZONE 'utc')")
        op.add_column("contact_tags", sa.Column("created_at", UTC(), server_default=default, nullable=True))
        op.execute("UPDATE contact_tags SET created_at = NULL")
        return
    # SQLite cannot ADD COLUMN with a non-constant default to a table holding rows: the table is copied (nothing
    # refers to contact_tags, so the copy cascades nowhere). Milliseconds, as the app's own times have more.
    default = sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")
    with op.batch_alter_table("contact_tags", recreate="always") as batch_op:
        batch_op.add_column(sa.Column("created_at", UTC(), server_default=default, nullable=True))
    op.execute("UPDATE contact_tags SET created_at = NULL")


def upgrade() -> None:
    # Plain ADD COLUMNs, not batch copies (a batch re-creates the table and cascades deletes on SQLite).
    op.add_column("campaigns", sa.Column("kind", sa.String(length=20), server_default="campaign", nullable=False))
    op.add_column("campaigns", sa.Column("sequence", Json, nullable=True))
    op.add_column("campaigns", sa.Column("trigger_checked_at", UTC(), nullable=True))
    _add_tag_times()
    op.create_index("ix_contact_tags_tag_added", "contact_tags", ["tag_id", "created_at"])
    op.create_index("ix_contacts_account_created", "contacts", ["account_id", "created_at"])
    op.create_table(
        "sequence_enrollments",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("entry", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("next_at", UTC(), nullable=True),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", UTC(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("trigger_at", UTC(), nullable=True),
        sa.Column("exit_reason", sa.String(length=20), nullable=True),
        sa.Column("exit_detail", sa.Text(), nullable=True),
        sa.Column("enrolled_at", UTC(), nullable=False),
        sa.Column("ended_at", UTC(), nullable=True),
        sa.Column("updated_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_sequence_enrollments_account_id_accounts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_sequence_enrollments_campaign_id_campaigns", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_sequence_enrollments_contact_id_contacts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_sequence_enrollments_message_id_messages", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sequence_enrollments"),
        sa.UniqueConstraint("campaign_id", "contact_id", "entry", name="uq_sequence_enrollments_entry"),
    )
    op.create_index(
        "uq_sequence_enrollments_active",
        "sequence_enrollments",
        ["campaign_id", "contact_id"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_sequence_enrollments_due",
        "sequence_enrollments",
        ["next_at", "id"],
        sqlite_where=sa.text("status = 'active' AND message_id IS NULL"),
        postgresql_where=sa.text("status = 'active' AND message_id IS NULL"),
    )
    op.create_index("ix_sequence_enrollments_contact", "sequence_enrollments", ["contact_id", "status"])
    op.create_index("ix_sequence_enrollments_campaign", "sequence_enrollments", ["campaign_id", "status", "id"])
    op.create_table(
        "sequence_sends",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("campaign_id", Id, nullable=False),
        sa.Column("enrollment_id", Id, nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("message_id", Id, nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_sequence_sends_account_id_accounts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_sequence_sends_campaign_id_campaigns", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["sequence_enrollments.id"],
            name="fk_sequence_sends_enrollment_id_sequence_enrollments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name="fk_sequence_sends_message_id_messages", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_sequence_sends"),
        sa.UniqueConstraint("enrollment_id", "step", name="uq_sequence_sends_step"),
    )
    op.create_index("ix_sequence_sends_campaign", "sequence_sends", ["campaign_id", "step"])
    op.create_index("ix_sequence_sends_message_id", "sequence_sends", ["message_id"])


def downgrade() -> None:
    op.drop_table("sequence_sends")
    op.drop_table("sequence_enrollments")
    op.drop_index("ix_contacts_account_created", table_name="contacts")
    op.drop_index("ix_contact_tags_tag_added", table_name="contact_tags")
    with op.batch_alter_table("contact_tags") as batch_op:
        batch_op.drop_column("created_at")
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.drop_column("trigger_checked_at")
        batch_op.drop_column("sequence")
        batch_op.drop_column("kind")
