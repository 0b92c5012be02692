"""Migration 0007 (ids never reused) on a database the previous release filled: every row, id, index, constraint and
foreign key kept; new ids above every id in use, and above every id given since, whatever is deleted; the way back
(downgrade) keeps every row too. On SQLite the tables are rebuilt with AUTOINCREMENT; on PostgreSQL, where ids come
from sequences, the migration changes nothing and the ids behave the same."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

import bot.models  # noqa: F401  (every table on the metadata)
from bot.config import Settings
from bot.conversations import runner, runs, unmatched
from bot.core import Core
from bot.customers import privacy
from bot.incidents.complaints import ComplaintAnswers
from bot.storage.base import Base
from bot.storage.database import MIGRATIONS_DIR, Database, _alembic_config
from bot.tickets.models import Ticket
from tests.conftest import Chat, FixedClock

PREVIOUS = "0006"
# The tables 0007 rebuilds on SQLite: every one with an integer id.
REBUILT = (
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

# Tables created after 0007, each with AUTOINCREMENT from its first migration (nothing to rebuild).
LATER = (
    "unmatched_messages", "flow_step_log", "admin_accounts", "admin_sessions", "admin_audit", "flow_publishes",
    "campaign_versions", "cancellations", "crosssell_offers", "incidents", "incident_notices", "incident_customers",
    "reward_codes", "section_versions",
)  # fmt: skip
# Columns added to older tables after 0007: that release's code never wrote them (0014: a ticket's incident).
LATER_COLUMNS = {"tickets": ("incident_id", "incident_label")}

Dump = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """These tests migrate a database of the previous release: an empty one, not the suite's migrated copy."""
    return empty_database_url


async def previous_release(settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> Core:
    """The app as it ran before 0007: the same code on the schema at 0006."""
    core = Core(settings, clock=clock)
    upgrade = core.db.upgrade

    async def upgrade_to_previous(revision: str = "head") -> None:
        await upgrade(PREVIOUS)

    monkeypatch.setattr(core.db, "upgrade", upgrade_to_previous)
    without_later_tables(monkeypatch)
    await core.prepare_storage()
    assert not core.registry.load()  # that release read its flows from the folder only (no flow store yet)
    assert await core.db.current_revision() == PREVIOUS
    await with_todays_sender_read(core.db)
    return core


async def with_todays_sender_read(db: Database) -> None:
    """Today's read of a message's sender calls 0018's function on PostgreSQL (the releases around 0007 read the runs
    in its statement); made on an old schema, it changes no table, row or index these tests compare."""
    if db.is_postgres:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(_migration("0018").CREATE)


def _migration(revision: str) -> Any:
    """A migration's module, as Alembic loads it."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_revision(revision).module


def without_later_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """The code of the releases around 0007 wrote no table created after it: no step log (0010), no unmatched
    messages (0009), no campaign store (0013) or settings store (0016), and a customer's erasure walked only the
    tables of its day."""

    async def nothing(*args: Any, **kwargs: Any) -> None:
        return None

    monkeypatch.setattr(runner, "log_step", lambda *args, **kwargs: None)
    monkeypatch.setattr(runs, "log_step", lambda *args, **kwargs: None)
    monkeypatch.setattr(unmatched, "record", nothing)
    monkeypatch.setattr(Core, "load_campaigns", nothing)  # campaigns came from config.yaml alone (no store: 0013)
    monkeypatch.setattr(Core, "load_sections", nothing)  # so did the playbook's sections (no settings store: 0016)
    monkeypatch.setattr(ComplaintAnswers, "affecting", nothing)  # no incidents to link a complaint to (0014)
    # An INSERT names every nullable column it does not set, as NULL; the columns of later releases are left out.
    for table in Base.metadata.sorted_tables:
        later = LATER_COLUMNS.get(table.name)
        mapper = next((m for m in Base.registry.mappers if m.local_table is table), None)
        if later and mapper is not None:
            kept = {key for key in mapper._insert_cols_as_none[table] if key not in later}
            monkeypatch.setitem(mapper._insert_cols_as_none, table, kept)
    of_the_day = [table for table in privacy.customer_tables() if table.name not in LATER]
    monkeypatch.setattr(privacy, "customer_tables", lambda: of_the_day)


async def complain(core: Core, visitor: str, name: str) -> str:
    chat = Chat(core, address=visitor, name=name)
    for line in ("hi", "cancel", "/complain", f"{name}: my parcel never arrived"):
        await chat.say(line)
    await chat.press("Order & delivery")
    await chat.press("Skip")
    found = re.search(r"C-\d+", await chat.press("Quite a lot"))
    assert found is not None, chat.last
    return found.group()


async def erase(core: Core, visitor: str) -> None:
    async with core.db.transaction() as session:
        customer_id = await session.scalar(
            text("SELECT customer_id FROM channel_identities WHERE address = :a"), {"a": visitor}
        )
        assert await privacy.delete(session, customer_id) is not None


async def read(db: Database, look: Callable[[Connection], Any]) -> Any:
    async with db.engine.connect() as conn:
        return await conn.run_sync(look)


def dump(conn: Connection) -> Dump:
    """Every row of every table, in id order."""
    tables = sorted(set(sa.inspect(conn).get_table_names()) - {"alembic_version", "sqlite_sequence"})
    return {t: [tuple(r) for r in conn.execute(text(f'SELECT * FROM "{t}" ORDER BY 1'))] for t in tables}


def schema(conn: Connection) -> dict[str, Any]:
    """Columns, primary key, unique constraints, foreign keys and indexes of every table, as the database says."""
    inspector = sa.inspect(conn)
    shape: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version", "sqlite_sequence"}):
        shape[table] = (
            [(c["name"], str(c["type"]), c["nullable"], c["default"]) for c in inspector.get_columns(table)],
            inspector.get_pk_constraint(table),
            sorted((u["name"], u["column_names"]) for u in inspector.get_unique_constraints(table)),
            sorted(inspector.get_foreign_keys(table), key=lambda fk: str(fk["name"])),
            sorted(
                (i["name"], i["column_names"], bool(i["unique"]), {k: str(v) for k, v in i["dialect_options"].items()})
                for i in inspector.get_indexes(table)
            ),
        )
    if conn.dialect.name == "sqlite":  # the statements themselves (a partial index's WHERE)
        shape["indexes"] = sorted(
            conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'index'")).scalars(), key=str
        )
    return shape


def autoincrement_tables(conn: Connection) -> set[str]:
    if conn.dialect.name != "sqlite":
        return set()
    rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    return {name for name, sql in rows if "AUTOINCREMENT" in sql.upper()}


def max_ids(data: Dump) -> dict[str, int]:
    """The highest id of each table with an integer id (0 when empty)."""
    return {t: max((row[0] for row in rows), default=0) for t, rows in data.items() if t in REBUILT}


def new_ids(before: Dump, after: Dump) -> dict[str, set[int]]:
    return {t: {r[0] for r in after[t]} - {r[0] for r in before[t]} for t in REBUILT}


async def migrate_with_foreign_keys_on(db: Database, revision: str) -> None:
    """Alembic straight on a connection with SQLite's foreign keys on, as a careless tool would run it."""

    def run(conn: Connection) -> None:
        command.upgrade(_alembic_config(conn), revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def test_the_upgrade_keeps_every_row_and_key_and_no_id_is_given_twice_afterwards(
    settings: Settings, clock: FixedClock, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    old = await previous_release(settings, clock, monkeypatch)
    try:
        assert await complain(old, "visitor-alice", "Alice") == "C-1001"
        assert await complain(old, "visitor-carol", "Carol") == "C-1002"
        await Chat(old, address="visitor-bob", name="Bob").say("hi")
        await erase(old, "visitor-alice")  # a gap among the ids: kept as it is, never filled
        before, shape = await read(old.db, dump), await read(old.db, schema)
    finally:
        await old.close()
    assert all(before[t] for t in ("customers", "tickets", "ticket_events", "messages", "conversation_runs", "outbox"))

    db = Database(database_url)
    try:
        await db.upgrade("0007")
        assert await db.current_revision() == "0007"
        assert await read(db, dump) == before  # every row, every id, every value
        assert await read(db, schema) == shape  # every column, constraint, foreign key and index
        if db.is_sqlite:
            assert await read(db, autoincrement_tables) == set(REBUILT)
            sequences = await read(db, lambda c: dict(c.execute(text("SELECT name, seq FROM sqlite_sequence")).all()))
            assert {t: sequences[t] for t in REBUILT} == max_ids(before)
            # Off for the rebuild only: the connection the migration used is back in the pool with them on.
            assert await read(db, lambda c: c.exec_driver_sql("PRAGMA foreign_keys").scalar()) == 1
    finally:
        await db.dispose()

    new = Core(settings, clock=clock)
    assert not await new.prepare()
    try:
        dave = await complain(new, "visitor-dave", "Dave")
        with_dave = await read(new.db, dump)
        added = new_ids(before, with_dave)
        assert all(i > max_ids(before)[t] for t, ids in added.items() for i in ids)
        assert added["customers"] and added["tickets"] and added["messages"] and added["outbox"]

        # The newest customer, ticket, messages, runs and queued rows all deleted: their ids stay given.
        await erase(new, "visitor-dave")
        await erase(new, "visitor-carol")
        erin = await complain(new, "visitor-erin", "Erin")
        with_erin = await read(new.db, dump)
        top = max_ids(with_dave)
        assert all(i > top[t] for t, ids in new_ids(with_dave, with_erin).items() for i in ids)
        assert (dave, erin) == ("C-1003", "C-1004")  # not C-1002 again, nor C-1003
    finally:
        await new.close()


async def test_the_downgrade_gives_back_the_previous_tables_with_every_row(
    settings: Settings, clock: FixedClock, core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    await core.db.downgrade("0007")  # what this test is about: the step from 0006 to 0007 and back
    without_later_tables(monkeypatch)
    await with_todays_sender_read(core.db)
    for n in range(3):
        await complain(core, f"visitor-{n}", f"Customer {n}")
    await erase(core, "visitor-1")
    data, shape = await read(core.db, dump), await read(core.db, schema)

    await core.db.downgrade(PREVIOUS)
    assert await core.db.current_revision() == PREVIOUS
    assert await read(core.db, dump) == data and await read(core.db, schema) == shape
    assert await read(core.db, autoincrement_tables) == set()

    await core.db.upgrade("0007")
    assert await read(core.db, dump) == data and await read(core.db, schema) == shape
    assert await read(core.db, autoincrement_tables) == (set(REBUILT) if core.db.is_sqlite else set())
    assert await complain(core, "visitor-3", "Customer 3") == "C-1004"


# Foreign keys as a pragma are SQLite's; PostgreSQL has nothing to rebuild.
@pytest.mark.parametrize("empty_database_url", ["sqlite"], indirect=True)
async def test_with_foreign_keys_on_the_rebuild_refuses_and_nothing_changes(empty_database_url: str) -> None:
    """Dropping a table with SQLite's foreign keys on first deletes its rows, cascading to every child table."""
    db = Database(empty_database_url)
    try:
        await db.upgrade(PREVIOUS)
        async with db.transaction() as session:
            await session.execute(
                text(
                    "INSERT INTO customers (id, tier, attributes, tags, subscribed, unreachable, "
                    "created_at) VALUES (7, 'standard', '{}', '[]', 1, 0, '2026-01-01')"
                )
            )
            await session.execute(
                text(
                    "INSERT INTO channel_identities (customer_id, channel, address, created_at) "
                    "VALUES (7, 'web', 'v', '2026-01-01')"
                )
            )
        before = await read(db, dump)
        with pytest.raises(RuntimeError, match="foreign keys are on"):
            await migrate_with_foreign_keys_on(db, "0007")
        assert await db.current_revision() == PREVIOUS and await read(db, dump) == before
    finally:
        await db.dispose()


async def test_every_table_with_an_integer_id_takes_it_from_a_counter_that_never_goes_back(
    database_url: str,
) -> None:
    """SQLite: AUTOINCREMENT (in the models and in the migrated database); PostgreSQL: a sequence. Never max()+1."""
    integer_ids = {
        t.name
        for t in Base.metadata.sorted_tables
        if [c.name for c in t.primary_key.columns] == ["id"] and t.c.id.type.python_type is int
    }
    # A new table with an integer id: IDS_NEVER_REUSED in its model and in its migration (and add it to LATER).
    assert integer_ids == set(REBUILT) | set(LATER)
    assert all(Base.metadata.tables[t].dialect_options["sqlite"]["autoincrement"] for t in integer_ids)
    db = Database(database_url)
    try:
        await db.upgrade()
        if db.is_sqlite:
            assert await read(db, autoincrement_tables) == set(REBUILT) | set(LATER)
        else:
            sequences = await read(
                db, lambda c: {t: c.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": t}) for t in REBUILT}
            )
            assert all(sequences.values()), sequences
    finally:
        await db.dispose()


async def test_a_ticket_reference_already_given_cannot_be_stored_again(core: Core, chat: Chat) -> None:
    assert await complain(core, chat.address, "Ana") == "C-1001"
    with pytest.raises(IntegrityError):
        async with core.db.transaction() as session:
            session.add(Ticket(ref="C-1001", customer_id=1, created_at=core.clock.now(), updated_at=core.clock.now()))
