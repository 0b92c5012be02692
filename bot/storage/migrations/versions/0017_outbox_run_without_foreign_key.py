"""outbox: campaign_run_id names its campaign occurrence without a foreign key

Planning writes an occurrence's rows 5,000 to a statement, and PostgreSQL checked the key row by row: 14 of the 67 ms
of a chunk (bench/bench_scale.py, docs/decisions.md). Nothing is lost by it: the rows are written by the planning of
the very run they name, which it holds locked, and campaign runs are never deleted (reports read them for ever). The
outbox, a layer below outreach, no longer depends on outreach's table either.

SQLite cannot drop a constraint. Its documented way for a foreign key (sqlite.org/lang_altertable.html, "making
other kinds of table schema changes") changes the table's CREATE statement in place, as below: nothing on disk
depends on the key, and a rebuild through Alembic's batch mode would have lost the name of the primary key that
migration 0007 gave it.

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
    """The procedure of sqlite.org/lang_altertable.html for a change that leaves the stored rows as they are: the
    schema's text changed, its version moved on so every connection reads it again, then checked."""
    conn = op.get_bind()
    version = int(conn.exec_driver_sql("PRAGMA schema_version").scalar_one())
    conn.exec_driver_sql("PRAGMA writable_schema = ON")
    conn.execute(text("UPDATE sqlite_master SET sql = :sql WHERE type = 'table' AND name = 'outbox'"), {"sql": create})
    conn.exec_driver_sql(f"PRAGMA schema_version = {version + 1}")
    conn.exec_driver_sql("PRAGMA writable_schema = OFF")
    found = len(conn.exec_driver_sql("PRAGMA foreign_key_list(outbox)").all())
    problems = conn.exec_driver_sql("PRAGMA integrity_check(outbox)").scalar_one()  # this table only: quick
    if found != keys or problems != "ok":
        raise RuntimeError(f"outbox: {found} foreign keys after the change (wanted {keys}); integrity: {problems}")
