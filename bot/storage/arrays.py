"""Many rows in one PostgreSQL statement of a fixed shape: one array parameter per column, `unnest`ed.

A multi-row VALUES list is a new statement for every number of rows, each prepared and planned by PostgreSQL on its
first run and kept in the driver's statement cache; an array per column is one statement for any number of rows,
including none (bot/conversations/reply_batch.py). Each array is cast to its column's type, so PostgreSQL knows
what `unnest` returns, and each value goes through its column type's conversion (SQLAlchemy's ARRAY of it).
`insert_values` is the other way, on any database: a VALUES list, for the one to few rows of a turn."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import BindParameter, Column, Table, bindparam
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY

_DIALECT = postgresql.dialect()


def unnested(columns: Sequence[Column[Any]], prefix: str) -> tuple[str, tuple[BindParameter[Any], ...]]:
    """`unnest(...)` of the array parameters `<prefix>_<column name>`, one row of `columns` per element, and the
    typed parameters; for `INSERT INTO t (...) SELECT * FROM <this>` or `FROM <this> AS u(...)`."""
    casts = ", ".join(f"CAST(:{prefix}_{c.name} AS {c.type.compile(dialect=_DIALECT)}[])" for c in columns)
    typed = tuple(bindparam(f"{prefix}_{c.name}", type_=ARRAY(c.type)) for c in columns)
    return f"unnest({casts})", typed


def one_row(columns: Sequence[Column[Any]], prefix: str) -> tuple[str, tuple[BindParameter[Any], ...]]:
    """`(VALUES (...))` of the parameters `<prefix>_<column name>`, each cast to its column's type: `unnested`'s one
    row, for a statement that is always about one (an array parameter costs the driver more to encode than values)."""
    casts = ", ".join(f"CAST(:{prefix}_{c.name} AS {c.type.compile(dialect=_DIALECT)})" for c in columns)
    typed = tuple(bindparam(f"{prefix}_{c.name}", type_=c.type) for c in columns)
    return f"(VALUES ({casts}))", typed


def insert_values(
    table: Table, columns: Sequence[str], prefix: str, count: int
) -> tuple[str, tuple[BindParameter[Any], ...]]:
    """`INSERT INTO table (columns) VALUES` `count` rows of the parameters `<prefix>_<column>_<n>`, and their typed
    parameters: for a statement whose rows are one or a few, built once per count (`unnested`'s arrays cost the
    driver more to encode). Written out: SQLAlchemy compiles a multi-row insert() again on every execution."""
    rows = ", ".join("(" + ", ".join(f":{prefix}_{c}_{n}" for c in columns) + ")" for n in range(count))
    typed = tuple(bindparam(f"{prefix}_{c}_{n}", type_=table.c[c].type) for n in range(count) for c in columns)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {rows}", typed


def insert_unnested(table: Table, columns: Sequence[str], prefix: str) -> tuple[str, tuple[BindParameter[Any], ...]]:
    """`INSERT INTO table (columns) SELECT * FROM unnest(...)` and its typed parameters (see `unnested`)."""
    source, typed = unnested([table.c[c] for c in columns], prefix)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) SELECT * FROM {source}", typed


def array_params(prefix: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> dict[str, list[Any]]:
    """The parameters of `unnested(..., columns, prefix)` for `rows`, each a sequence of values in `columns`' order."""
    arrays: dict[str, list[Any]] = {f"{prefix}_{c}": [] for c in columns}
    lists = list(arrays.values())
    for row in rows:
        for values, value in zip(lists, row, strict=True):
            values.append(value)
    return arrays
