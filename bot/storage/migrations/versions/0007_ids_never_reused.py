"""ids never reused: AUTOINCREMENT on every SQLite table with an integer id

Without it SQLite gives a new row the highest id in use plus one. After a customer was erased (theirs the newest
rows), the next customer got their id and the next ticket their reference (C-1002 again), and Claim or Resolve
pressed on the erased ticket's Slack message acted on the new one. Each table is rebuilt with AUTOINCREMENT,
keeping every row, id, index, constraint and foreign key, and its sqlite_sequence starts at the highest id in use.
(An id given to a row deleted before this upgrade, above the highest left, is known nowhere and may be given once
more; from now on none is.)

The rebuild drops each old table, so foreign keys must be off (Database.upgrade turns them off before its
transaction): with them on, SQLite would first delete the rows and cascade to the child tables. The keys are
checked before the commit instead (PRAGMA foreign_key_check).

PostgreSQL: nothing to do. Every id there comes from a sequence (SERIAL), and a sequence never gives a value twice,
not even one taken by a transaction that rolled back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 10:00:00.000000
"""

import re

from alembic import op
from sqlalchemy import text
from sqlalchemy.engine import Connection

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Every table with an integer id (the others are keyed by a code or a name). Whether an id leaves the database
# (a customer id in the API, a ticket reference, a run id in a button, a message id as the web chat's cursor, an
# outbox id in a delivery decision) or not, a reused one silently names another row; only erasure deletes rows
# today, but the rule holds for any table, and rebuilding the small ones costs nothing.
TABLES = (
    "customers",
    "channel_identities",
    "customer_events",
    "conversation_runs",
    "messages",
    "flow_versions",
    "staff",
    "tickets",
    "ticket_events",
    "survey_responses",
    "campaign_runs",
    "outbox",
    "delivery_decisions",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(autoincrement=False)


def _rebuild(*, autoincrement: bool) -> None:
    conn = op.get_bind()
    if conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "foreign keys are on: rebuilding a table would delete the rows of its child tables. Run migrations "
            "through `engagebot` (Database.upgrade), or PRAGMA foreign_keys=OFF before the transaction"
        )
    broken_before = _foreign_key_problems(conn)
    for table in TABLES:
        _rebuild_table(conn, table, autoincrement)
    broken = _foreign_key_problems(conn) - broken_before
    if broken:
        raise RuntimeError(f"the rebuild broke foreign keys (table, id, parent); nothing was committed: {broken}")


def _rebuild_table(conn: Connection, table: str, autoincrement: bool) -> None:
    """SQLite's own recipe for a change ALTER TABLE cannot make: the new table from the old one's CREATE statement
    (only the primary key clause changed), the rows copied with their ids, the old table dropped, the new one
    renamed, its indexes and triggers created again from their saved statements. Then checked: the same columns,
    foreign keys, indexes and row count as before, or the whole migration rolls back."""
    create = conn.execute(
        text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"), {"t": table}
    ).scalar_one()
    if (_COLUMN_PK.search(create) is not None) == autoincrement:
        return  # already as wanted
    changed = _with_autoincrement(create, table) if autoincrement else _without_autoincrement(create, table)
    dependents = list(
        conn.execute(
            text("SELECT sql FROM sqlite_master WHERE tbl_name = :t AND type IN ('index', 'trigger') AND sql NOTNULL"),
            {"t": table},
        ).scalars()
    )
    before = _shape(conn, table)
    temporary = f"_0007_{table}"
    conn.exec_driver_sql(_renamed(changed, table, temporary))
    conn.exec_driver_sql(f'INSERT INTO "{temporary}" SELECT * FROM "{table}"')
    conn.exec_driver_sql(f'DROP TABLE "{table}"')
    conn.exec_driver_sql(f'ALTER TABLE "{temporary}" RENAME TO "{table}"')
    for statement in dependents:
        conn.exec_driver_sql(statement)
    if autoincrement:
        _seed_sequence(conn, table)
    after = _shape(conn, table)
    if after != before:
        raise RuntimeError(f"rebuilding {table} changed it; nothing was committed: {before} -> {after}")


# The primary key as SQLAlchemy writes it for a table without AUTOINCREMENT, a table constraint, and as a column
# constraint, the only place SQLite accepts AUTOINCREMENT. The constraint keeps its name.
_TABLE_PK = re.compile(r',\s*CONSTRAINT\s+"?(\w+)"?\s+PRIMARY\s+KEY\s*\(\s*"?id"?\s*\)', re.IGNORECASE)
_ID_COLUMN = re.compile(r'\(\s*"?id"?\s+INTEGER\s+NOT\s+NULL\s*,', re.IGNORECASE)
_COLUMN_PK = re.compile(
    r'\(\s*"?id"?\s+INTEGER\s+NOT\s+NULL\s+(?:CONSTRAINT\s+"?(\w+)"?\s+)?PRIMARY\s+KEY\s+AUTOINCREMENT\s*,',
    re.IGNORECASE,
)


def _with_autoincrement(create: str, table: str) -> str:
    pk = _TABLE_PK.search(create)
    if pk is None or len(_ID_COLUMN.findall(create)) != 1:
        raise RuntimeError(f"{table}: unexpected schema, its id is not the first column and primary key: {create}")
    create = create[: pk.start()] + create[pk.end() :]
    return _ID_COLUMN.sub(f"(\n\tid INTEGER NOT NULL CONSTRAINT {pk.group(1)} PRIMARY KEY AUTOINCREMENT,", create)


def _without_autoincrement(create: str, table: str) -> str:
    column = _COLUMN_PK.search(create)
    end = create.rstrip().rfind(")")
    if column is None or end < 0:
        raise RuntimeError(f"{table}: unexpected schema, its id is not the first column and primary key: {create}")
    name = column.group(1) or f"pk_{table}"
    create = create[:end].rstrip() + f", \n\tCONSTRAINT {name} PRIMARY KEY (id)\n" + create[end:]
    return _COLUMN_PK.sub("(\n\tid INTEGER NOT NULL,", create)


def _renamed(create: str, table: str, name: str) -> str:
    header = re.compile(rf'^\s*CREATE\s+TABLE\s+"?{re.escape(table)}"?\s*\(', re.IGNORECASE)
    if header.match(create) is None:
        raise RuntimeError(f"{table}: unexpected CREATE statement: {create}")
    return header.sub(f'CREATE TABLE "{name}" (', create, count=1)


def _shape(conn: Connection, table: str) -> tuple[object, ...]:
    """What the rebuild must keep: columns (name, type, not null, default, primary key), foreign keys, indexes
    (with their columns), and the number of rows."""
    columns = [tuple(r) for r in conn.exec_driver_sql(f'PRAGMA table_xinfo("{table}")')]
    keys = [tuple(r) for r in conn.exec_driver_sql(f'PRAGMA foreign_key_list("{table}")')]
    indexes = []
    for _, name, unique, origin, partial in conn.exec_driver_sql(f'PRAGMA index_list("{table}")'):
        cols = [tuple(r) for r in conn.exec_driver_sql(f'PRAGMA index_xinfo("{name}")')]
        indexes.append((name, unique, origin, partial, cols))
    rows = conn.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar_one()
    return columns, sorted(keys), sorted(indexes), rows


def _seed_sequence(conn: Connection, table: str) -> None:
    """The next id is above every id in the table (copying the rows already raised it; this says so explicitly,
    and gives an empty table its row)."""
    top = conn.execute(text(f'SELECT coalesce(max(id), 0) FROM "{table}"')).scalar_one()
    seq = conn.execute(text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table}).scalar_one_or_none()
    if seq is None:
        conn.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :top)"), {"t": table, "top": top})
    elif seq < top:
        conn.execute(text("UPDATE sqlite_sequence SET seq = :top WHERE name = :t"), {"t": table, "top": top})


def _foreign_key_problems(conn: Connection) -> set[tuple[str, int, str]]:
    """(table, rowid, parent) of every row whose parent is missing; ids are rowids, kept by the rebuild."""
    return {(row[0], row[1], row[2]) for row in conn.exec_driver_sql("PRAGMA foreign_key_check")}
