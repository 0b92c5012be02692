"""The outbox table on SQLite made again from an edited CREATE statement, for a migration that drops (or adds back)
one of its foreign keys: SQLite cannot alter a constraint, so the table is rebuilt by SQLite's own recipe
(sqlite.org/lang_altertable.html) with only that clause changed, and everything else stays exactly as it was.
Migrations 0017 and 0019 (Alembic's batch mode lost the name of the primary key migration 0007 gave it)."""

from __future__ import annotations

import re

from alembic import op
from sqlalchemy import text


def create_statement() -> str:
    query = text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'outbox'")
    return str(op.get_bind().execute(query).scalar_one())


def without_clause(create: str, clause: str) -> str:
    """`create` with the table constraint `clause` (and the comma before it) taken out."""
    found = re.search(r",\s*" + re.escape(clause).replace(r"\ ", r"\s*"), create)
    if found is None:
        raise RuntimeError(f"outbox: {clause!r} is not where it was expected: {create}")
    return create[: found.start()] + create[found.end() :]


def with_clause(create: str, clause: str) -> str:
    """`create` with the table constraint `clause` added last."""
    end = create.rstrip().rfind(")")
    return create[:end].rstrip() + f", \n\t{clause}\n" + create[end:]


def rebuild(create: str, *, temporary: str, keys: int) -> None:
    """The table made again from `create`: rows copied with their ids, the old table dropped, the new one renamed,
    its indexes made again from their saved statements, its next id kept; then checked (`keys` foreign keys, every
    row), or the migration rolls back. Foreign keys must be off (Database.upgrade): with them on, dropping the old
    table would check the rows that reference it."""
    conn = op.get_bind()
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("foreign keys are on: run migrations through `engagebot` (Database.upgrade)")
    saved = "SELECT sql FROM sqlite_master WHERE tbl_name = 'outbox' AND type IN ('index', 'trigger') AND sql NOTNULL"
    indexes = list(conn.execute(text(saved)).scalars())
    rows = conn.exec_driver_sql("SELECT count(*) FROM outbox").scalar_one()
    seq = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").scalar_one_or_none()
    header = re.compile(r'^\s*CREATE\s+TABLE\s+"?outbox"?\s*\(', re.IGNORECASE)
    if header.match(create) is None:
        raise RuntimeError(f"outbox: unexpected CREATE statement: {create}")
    conn.exec_driver_sql(header.sub(f'CREATE TABLE "{temporary}" (', create, count=1))
    conn.exec_driver_sql(f'INSERT INTO "{temporary}" SELECT * FROM outbox')
    conn.exec_driver_sql("DROP TABLE outbox")
    conn.exec_driver_sql(f'ALTER TABLE "{temporary}" RENAME TO outbox')
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
