"""outbox: customer_id names its customer without a foreign key

PostgreSQL checked the key row by row at the end of each statement, with a KEY SHARE lock on every customer named:
planning 200,000 check-ins spent a third of each chunk's statement on it (auto_explain: 90 of 275 ms for 20,000
rows), and the benchmark's planning went from 2.0-2.1x its `INSERT ... SELECT generate_series` baseline to 1.45-1.6x
without it (bench/bench_scale.py, docs/decisions.md). What the key's ON DELETE CASCADE did is done explicitly:
erasing a customer deletes their rows from every table with a customer_id, the outbox included, in the
transaction that holds their lock (bot/customers/privacy.py), and the customer rows are deleted nowhere else. The
writers that hold no lock on the customer (planning) can leave a row behind a customer erased at that moment: the
delivery policy skips it as "customer no longer exists", and its decision is recorded without the customer.

SQLite: the table is rebuilt with only the key's clause taken out (bot/storage/migrations/sqlite_outbox.py), as
migration 0017 did for campaign_run_id.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 15:45:00.000000
"""

from alembic import op

from bot.storage.migrations.sqlite_outbox import create_statement, rebuild, with_clause, without_clause

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

NAME = "fk_outbox_customer_id_customers"
CLAUSE = f"CONSTRAINT {NAME} FOREIGN KEY(customer_id) REFERENCES customers (id) ON DELETE CASCADE"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(NAME, "outbox", type_="foreignkey")
        return
    rebuild(without_clause(create_statement(), CLAUSE), temporary="_0019_outbox", keys=0)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key(NAME, "outbox", "customers", ["customer_id"], ["id"], ondelete="CASCADE")
        return
    rebuild(with_clause(create_statement(), CLAUSE), temporary="_0019_outbox", keys=1)
