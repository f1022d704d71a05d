"""contact search: a folded search key on contacts and the contact_terms index, filled for existing contacts

Search used SQL LIKE, which folds ASCII only ("Émile", "Łukasz", "Zoë" were not found by "emile", "lukasz",
"zoe") and scanned every contact. The key and the terms are folded in Python (backend/store/search_key.py);
a search is one range scan of contact_terms' primary key.

Revision ID: 0010_ux_contact_search
Revises: 0010_twoway_inbound
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from backend.store.search_key import all_terms, search_key

revision = "0010_ux_contact_search"
down_revision = "0010_twoway_inbound"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_key", sa.String(length=1000), server_default="", nullable=False))
    op.create_table(
        "contact_terms",
        sa.Column("account_id", Id, nullable=False),
        sa.Column(
            "term",
            sa.String(length=100).with_variant(sa.String(length=100, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("contact_id", Id, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_contact_terms_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_terms_contact_id_contacts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "term", "contact_id", name=op.f("pk_contact_terms")),
    )
    with op.batch_alter_table("contact_terms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_terms_contact_id"), ["contact_id"], unique=False)
    backfill(op.get_bind())


def backfill(connection: sa.Connection) -> None:
    """Fold every existing contact, a batch at a time in id order."""
    contacts = sa.table(
        "contacts",
        sa.column("id"),
        sa.column("account_id"),
        sa.column("name"),
        sa.column("email"),
        sa.column("phone"),
        sa.column("search_key"),
    )
    terms = sa.table("contact_terms", sa.column("account_id"), sa.column("term"), sa.column("contact_id"))
    set_key = contacts.update().where(contacts.c.id == sa.bindparam("_id")).values(search_key=sa.bindparam("_key"))
    last = 0
    while True:
        rows = connection.execute(
            sa.select(contacts.c.id, contacts.c.account_id, contacts.c.name, contacts.c.email, contacts.c.phone)
            .where(contacts.c.id > last)
            .order_by(contacts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        account = {r.id: r.account_id for r in rows}
        connection.execute(set_key, [{"_id": r.id, "_key": search_key(r.name, r.email, r.phone)} for r in rows])
        pairs = all_terms((r.id, r.name, r.email, r.phone) for r in rows)
        if pairs:
            connection.execute(
                terms.insert(), [{"account_id": account[cid], "term": term, "contact_id": cid} for cid, term in pairs]
            )


def downgrade() -> None:
    with op.batch_alter_table("contact_terms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_terms_contact_id"))
    op.drop_table("contact_terms")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("search_key")
