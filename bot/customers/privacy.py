"""Everything stored about one customer: finding them by reference, their profile, an export of all
their data (an access request), and erasing it (a deletion request).

Tables are found by walking the metadata (every table with a customer_id column, and the tables that
hang off those, such as a ticket's timeline), so a table added later is exported and erased too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy import delete as delete_rows
from sqlalchemy.ext.asyncio import AsyncSession

import bot.models  # noqa: F401  (every model registered in the metadata, so no table is missed)
from bot.customers import records, storable
from bot.customers.models import ChannelIdentity, Customer
from bot.customers.views import CustomerExport, CustomerProfile, IdentityView, JsonRow, json_value
from bot.storage.base import Base

EXTERNAL = "ext:"
MAX_ID = 2**31 - 1  # customers.id is a 32-bit integer
CustomerRef = int | str  # our id, or the business's own (external) id


def parse_ref(ref: str) -> CustomerRef:
    """ "42" -> 42 (our id); "ext:C-1" -> "C-1" (the business's own id). ValueError otherwise."""
    if (problem := storable.text_problem(ref)) is not None:  # no customer has it, and no database takes it
        raise ValueError(f"the customer reference {problem}")
    if ref.startswith(EXTERNAL) and ref[len(EXTERNAL) :].strip():
        return ref[len(EXTERNAL) :]
    if ref.isascii() and ref.isdigit():
        return int(ref)
    raise ValueError(f"{ref!r} is not a customer reference: use a customer id (42) or ext:<external_id> (ext:C-1)")


async def find(session: AsyncSession, ref: CustomerRef) -> Customer | None:
    if isinstance(ref, int):
        return await session.get(Customer, ref) if 0 < ref <= MAX_ID else None
    query = select(Customer).where(Customer.external_id == ref)
    return (await session.execute(query)).scalar_one_or_none()


def customer_tables() -> list[Table]:
    """Tables whose rows belong to a customer (customer_id), in dependency order."""
    return [t for t in Base.metadata.sorted_tables if "customer_id" in t.c and t.name != Customer.__tablename__]


def child_tables(parent: Table) -> list[tuple[Table, str, str]]:
    """Tables without a customer_id whose rows belong to a row of `parent` (ticket_events of tickets):
    (table, its column, the parent's column it points at)."""
    return [
        (table, fk.parent.name, fk.column.name)
        for table in Base.metadata.sorted_tables
        if "customer_id" not in table.c
        for fk in table.foreign_keys
        if fk.column.table is parent
    ]


def jsonable(row: Any) -> JsonRow:
    """A row as JSON can carry it; values stored before the input checks (NaN, NUL, lone surrogates) cleaned, so an
    export never fails on them."""
    return {k: json_value(v) for k, v in _cleaned(row).items()}


def _cleaned(row: Any) -> dict[str, Any]:
    """A row's values by column, cleaned as `jsonable` cleans them; times stay times."""
    return {k: v if isinstance(v, datetime) else storable.cleaned(v) for k, v in row._mapping.items()}


async def profile(session: AsyncSession, customer: Customer) -> CustomerProfile:
    """The customer's row and their chat identities."""
    row = (await session.execute(select(Customer.__table__).where(Customer.id == customer.id))).one()
    query = select(ChannelIdentity.channel, ChannelIdentity.address, ChannelIdentity.created_at,
                   ChannelIdentity.last_used_at).where(ChannelIdentity.customer_id == customer.id)  # fmt: skip
    identities = [IdentityView(**_cleaned(r)) for r in await session.execute(query.order_by(ChannelIdentity.id))]
    return CustomerProfile(**_cleaned(row), identities=tuple(identities))


async def export(session: AsyncSession, customer_id: int) -> CustomerExport | None:
    """Every stored row about the customer: the profile row, and each table's rows by table name; rows of child
    tables are nested in their parent (each ticket has its "ticket_events")."""
    row = (await session.execute(select(Customer.__table__).where(Customer.id == customer_id))).one_or_none()
    if row is None:
        return None
    tables: dict[str, list[JsonRow]] = {}
    for table in customer_tables():
        query = select(table).where(table.c.customer_id == customer_id).order_by(*table.primary_key.columns)
        rows = [jsonable(r) for r in await session.execute(query)]
        for child, column, key in child_tables(table):
            keys = [r[key] for r in rows]
            nested: dict[Any, list[dict[str, Any]]] = {}
            if keys:
                children = select(child).where(child.c[column].in_(keys)).order_by(*child.primary_key.columns)
                for r in await session.execute(children):
                    nested.setdefault(r._mapping[column], []).append(jsonable(r))
            for r in rows:
                r[child.name] = nested.get(r[key], [])
        tables[table.name] = rows
    return CustomerExport(jsonable(row), tables)


async def delete(session: AsyncSession, customer_id: int) -> dict[str, int] | None:
    """Erase the customer and every row about them; returns how many rows went from each table.

    Explicit deletes rather than relying on ON DELETE CASCADE: the counts are the receipt, and a
    table whose foreign key lacks a cascade cannot keep a row behind."""
    if await session.get(Customer, customer_id) is None:
        return None
    await records.lock(session, customer_id)  # a chat turn of this customer finishes first, or waits
    counts: dict[str, int] = {}
    for table in reversed(customer_tables()):
        for child, column, key in child_tables(table):
            owned = select(table.c[key]).where(table.c.customer_id == customer_id)
            result = await session.execute(delete_rows(child).where(child.c[column].in_(owned)))
            counts[child.name] = counts.get(child.name, 0) + int(result.rowcount)  # type: ignore[attr-defined]
        result = await session.execute(delete_rows(table).where(table.c.customer_id == customer_id))
        counts[table.name] = int(result.rowcount)  # type: ignore[attr-defined]
    await session.execute(delete_rows(Customer.__table__).where(Customer.id == customer_id))
    session.expunge_all()  # objects loaded before are gone from the database
    counts["customers"] = 1
    return counts
