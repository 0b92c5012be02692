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

import re

from alembic import op
from sqlalchemy import text

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
    create = _create_statement()
    found = re.search(r",\s*" + re.escape(CLAUSE).replace(r"\ ", r"\s*"), create)
    if found is None:
        raise RuntimeError(f"outbox: its foreign key to campaign_runs is not where it was expected: {create}")
    _replace_create_statement(create[: found.start()] + create[found.end() :], keys=1)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key(NAME, "outbox", "campaign_runs", ["campaign_run_id"], ["id"], ondelete="SET NULL")
        return
    create = _create_statement()
    end = create.rstrip().rfind(")")
    _replace_create_statement(create[:end].rstrip() + f", \n\t{CLAUSE}\n" + create[end:], keys=2)


def _create_statement() -> str:
    query = text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'outbox'")
    return str(op.get_bind().execute(query).scalar_one())


def _replace_create_statement(create: str, *, keys: int) -> None:
    """The table made again from `create`: rows copied with their ids, the old table dropped, the new one renamed,
    its indexes made again from their saved statements, its next id kept; then checked, or the migration rolls back."""
    conn = op.get_bind()
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("foreign keys are on: run migrations through `engagebot` (Database.upgrade)")
    indexes = list(
        conn.execute(
            text("SELECT sql FROM sqlite_master WHERE tbl_name = 'outbox' AND type IN ('index', 'trigger') AND sql NOTNULL")
        ).scalars()
    )  # fmt: skip
    rows = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one()
    seq = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").scalar_one_or_none()
    header = re.compile(r'^\s*CREATE\s+TABLE\s+"?outbox"?\s*\(', re.IGNORECASE)
    if header.match(create) is None:
        raise RuntimeError(f"outbox: unexpected CREATE statement: {create}")
    conn.exec_driver_sql(header.sub('CREATE TABLE "_0017_outbox" (', create, count=1))
    conn.exec_driver_sql('INSERT INTO "_0017_outbox" SELECT * FROM outbox')
    conn.exec_driver_sql("DROP TABLE outbox")
    conn.exec_driver_sql('ALTER TABLE "_0017_outbox" RENAME TO outbox')
    for statement in indexes:
        conn.exec_driver_sql(statement)
    if seq is not None:  # ids never reused (migration 0007): the next one is where it was, not the highest left + 1
        now = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").scalar_one_or_none()
        if now is None:  # an empty table copied no row, so the new one has no sequence yet
            conn.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', :seq)"), {"seq": seq})
        else:
            conn.execute(text("UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = 'outbox'"), {"seq": seq})
    found = len(conn.exec_driver_sql("PRAGMA foreign_key_list(outbox)").all())
    copied = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one()
    if found != keys or copied != rows:
        raise RuntimeError(f"outbox: {found} foreign keys (wanted {keys}), {copied} of {rows} rows after the rebuild")
