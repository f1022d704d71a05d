"""who a contact can be reached by, as one small number the database keeps: `contacts.reach`

Bits (backend/audience/reach.py): 1 has a phone, 2 has an email address, 4 opted out of SMS, 8 of email, 16 of
WhatsApp, 32 of everything. A trigger writes it on every insert and on every change of phone, email or
opt-outs, whichever code path writes (the ORM, imports and merges in plain SQL, opt-outs), so it cannot drift.
With the index (account_id, reach) a segment's count (how many, reachable per channel, opted out, without an
address) is a GROUP BY over a narrow index instead of reading every contact's JSON.

Revision ID: 0023_scale
Revises: 0022_screens_views
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_scale"
down_revision = "0022_screens_views"
branch_labels = None
depends_on = None


def _reach_sql(dialect: str, row: str) -> str:
    """The reach of the contact row `row` (NEW in a trigger, contacts in the backfill)."""

    def opted(family: str) -> str:
        if dialect == "postgresql":
            return f"{row}.opt_outs ->> '{family}' IS NOT NULL"
        return f"json_extract({row}.opt_outs, '$.\"{family}\"') IS NOT NULL"

    bits = [
        (f"COALESCE({row}.phone, '') <> ''", 1),
        (f"COALESCE({row}.email, '') <> ''", 2),
        (opted("sms"), 4),
        (opted("email"), 8),
        (opted("whatsapp"), 16),
        (opted("all"), 32),
    ]
    return " + ".join(f"(CASE WHEN {condition} THEN {bit} ELSE 0 END)" for condition, bit in bits)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # A plain ADD COLUMN, not a batch copy (see 0018_audience: re-creating `contacts` on SQLite would cascade).
    op.add_column("contacts", sa.Column("reach", sa.SmallInteger(), server_default="0", nullable=False))
    op.execute(f"UPDATE contacts SET reach = {_reach_sql(dialect, 'contacts')}")
    if dialect == "postgresql":
        op.execute(f"""
            CREATE FUNCTION contacts_reach() RETURNS trigger AS $$
            BEGIN
                NEW.reach := {_reach_sql(dialect, "NEW")};
                RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER trg_contacts_reach BEFORE INSERT OR UPDATE OF phone, email, opt_outs, reach ON contacts
            FOR EACH ROW EXECUTE FUNCTION contacts_reach()""")
    else:
        # SQLite cannot change NEW: the row is corrected right after it is written.
        reach = _reach_sql(dialect, "NEW")
        op.execute(f"""
            CREATE TRIGGER trg_contacts_reach_insert AFTER INSERT ON contacts
            BEGIN UPDATE contacts SET reach = {reach} WHERE id = NEW.id; END""")
        op.execute(f"""
            CREATE TRIGGER trg_contacts_reach_update AFTER UPDATE OF phone, email, opt_outs ON contacts
            BEGIN UPDATE contacts SET reach = {reach} WHERE id = NEW.id; END""")
    op.create_index("ix_contacts_reach", "contacts", ["account_id", "reach"])


def downgrade() -> None:
    op.drop_index("ix_contacts_reach", table_name="contacts")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_contacts_reach ON contacts")
        op.execute("DROP FUNCTION contacts_reach()")
    else:
        op.execute("DROP TRIGGER trg_contacts_reach_insert")
        op.execute("DROP TRIGGER trg_contacts_reach_update")
    op.drop_column("contacts", "reach")
