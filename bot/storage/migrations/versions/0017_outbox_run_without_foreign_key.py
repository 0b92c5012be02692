"""outbox: campaign_run_id names its campaign occurrence without a foreign key

Planning writes an occurrence's rows 5,000 to a statement, and PostgreSQL checked the key row by row: 14 of the 67 ms
of a chunk (bench/bench_scale.py, docs/decisions.md). Nothing is lost by it: the rows are written by the planning of
the very run they name, which it holds locked, and campaign runs are never deleted (reports read them for ever). The
outbox, a layer below outreach, no longer depends on outreach's table either.

SQLite cannot drop a constraint: the table is rebuilt by SQLite's own recipe (sqlite.org/lang_altertable.html), as
migration 0007 did, from its CREATE statement with only the key's clause changed, so everything else stays exactly
as it was (Alembic's batch mode lost the name of the primary key 0007 gave it). Foreign keys are off meanwhile
(Database.upgrade): with them on, dropping the old table would check the rows that reference it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 04:40:00.000000
"""

from alembic import op

from bot.storage.migrations.sqlite_outbox import create_statement, rebuild, with_clause, without_clause

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

NAME = "fk_outbox_campaign_run_id_campaign_runs"
CLAUSE = f"CONSTRAINT {NAME} FOREIGN KEY(campaign_run_id) REFERENCES campaign_runs (id) ON DELETE SET NULL"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(NAME, "outbox", type_="foreignkey")
        return
    rebuild(without_clause(create_statement(), CLAUSE), temporary="_0017_outbox", keys=1)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key(NAME, "outbox", "campaign_runs", ["campaign_run_id"], ["id"], ondelete="SET NULL")
        return
    rebuild(with_clause(create_statement(), CLAUSE), temporary="_0017_outbox", keys=2)
