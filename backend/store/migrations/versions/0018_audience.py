"""tags, segments, and what filters read of a contact

`tags` (unique per account by folded name) and `contact_tags`; `segments` (saved filters); on `contacts` the
folded name `name_key`, the phone's `country` and `fields_key` (custom fields as folded text and as numbers),
filled here for the contacts already stored (backend.store.derived.py).

Revision ID: 0018_audience
Revises: 0017_inbox
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.store.models
from backend.store.derived import derived

revision = "0018_audience"
down_revision = "0017_inbox"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = backend.store.models.Json
BATCH = 2000


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("color", sa.String(length=20), nullable=True),
        sa.Column("created_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_tags_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tags"),
        sa.UniqueConstraint("account_id", "name_key", name="uq_tags_account_name_key"),
    )
    op.create_index("ix_tags_account_id", "tags", ["account_id"])
    op.create_table(
        "contact_tags",
        sa.Column("tag_id", Id, nullable=False),
        sa.Column("contact_id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_contact_tags_contact_id_contacts", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name="fk_contact_tags_tag_id_tags", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tag_id", "contact_id", name="pk_contact_tags"),
    )
    op.create_index("ix_contact_tags_contact_id", "contact_tags", ["contact_id"])
    op.create_table(
        "segments",
        sa.Column("id", Id, nullable=False),
        sa.Column("account_id", Id, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filter", Json, nullable=False),
        sa.Column("created_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.Column("updated_at", backend.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_segments_account_id_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_segments"),
    )
    op.create_index("ix_segments_account_id", "segments", ["account_id"])
    # A plain ADD COLUMN, not a batch copy: on SQLite a batch drops and re-creates `contacts`, and dropping it
    # deletes every row that refers to it with ON DELETE CASCADE (the search terms, the new contact_tags).
    op.add_column("contacts", sa.Column("name_key", sa.String(length=200), server_default="", nullable=False))
    op.add_column("contacts", sa.Column("country", sa.String(length=2), nullable=True))
    op.add_column("contacts", sa.Column("fields_key", Json, server_default=sa.text("'{}'"), nullable=False))
    _fill_derived()


def _fill_derived() -> None:
    contacts = sa.table(
        "contacts",
        sa.column("id", Id),
        sa.column("name", sa.String()),
        sa.column("phone", sa.String()),
        sa.column("fields", Json),
        sa.column("name_key", sa.String()),
        sa.column("country", sa.String()),
        sa.column("fields_key", Json),
    )
    connection = op.get_bind()
    change = (
        sa.update(contacts)
        .where(contacts.c.id == sa.bindparam("_id"))
        .values(
            name_key=sa.bindparam("_name_key"),
            country=sa.bindparam("_country"),
            fields_key=sa.bindparam("_fields_key", type_=Json),
        )
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(contacts.c.id, contacts.c.name, contacts.c.phone, contacts.c.fields)
            .where(contacts.c.id > last)
            .order_by(contacts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        values = [{"_id": r.id, **{f"_{k}": v for k, v in derived(r.name, r.phone, r.fields).items()}} for r in rows]
        connection.execute(change, values)
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("fields_key")
        batch_op.drop_column("country")
        batch_op.drop_column("name_key")
    op.drop_index("ix_segments_account_id", table_name="segments")
    op.drop_table("segments")
    op.drop_index("ix_contact_tags_contact_id", table_name="contact_tags")
    op.drop_table("contact_tags")
    op.drop_index("ix_tags_account_id", table_name="tags")
    op.drop_table("tags")
