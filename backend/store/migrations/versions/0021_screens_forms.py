"""contact imports that can be undone within a day, and compose's autosaved draft

`contact_imports` (one per import, with its counts and time stamp) and `contact_import_rows` (each contact the
import created, or changed with what it held before); `compose_drafts` (one per account).

Revision ID: 0021_screens_forms
Revises: 0020_sequences
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.store.models

revision = "0021_screens_forms"
down_revision = "0020_sequences"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = backend.store.models.Json


def upgrade() -> None:
    op.create_table(
        "contact_imports",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("counts", Json, nullable=False),
        sa.Column("created_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.Column("undone_at", backend.store.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_contact_imports_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_contact_imports"),
    )
    op.create_index("ix_contact_imports_account_id", "contact_imports", ["account_id"])
    op.create_table(
        "contact_import_rows",
        sa.Column("import_id", Id, nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.Column("before", Json, nullable=True),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["contact_imports.id"],
            name="fk_contact_import_rows_import_id_contact_imports",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_contact_import_rows_contact_id_contacts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("import_id", "contact_id", name="pk_contact_import_rows"),
    )
    op.create_index("ix_contact_import_rows_contact_id", "contact_import_rows", ["contact_id"])
    op.create_table(
        "compose_drafts",
        sa.Column("account_id", Id, nullable=False),
        sa.Column("snapshot", Json, nullable=False),
        sa.Column("saved_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_compose_drafts_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_compose_drafts"),
    )


def downgrade() -> None:
    op.drop_table("compose_drafts")
    op.drop_index("ix_contact_import_rows_contact_id", table_name="contact_import_rows")
    op.drop_table("contact_import_rows")
    op.drop_index("ix_contact_imports_account_id", table_name="contact_imports")
    op.drop_table("contact_imports")
