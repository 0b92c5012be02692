"""Statements written past SQLAlchemy's execution layer (bot/storage/plain.py) store what the session would have
stored, see what the session has pending, fail as the session would, and roll back with the transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError

from bot.customers import records
from bot.customers.models import Customer
from bot.messages import ChannelRef
from bot.outbox.delivery import insert_send
from bot.outbox.models import LEASED, PENDING, OutboxItem
from bot.storage import plain
from bot.storage.database import Database
from bot.transcript import Message
from bot.transcript.writes import _INSERT_MESSAGES

NOW = datetime(2026, 12, 4, 23, 59, 1, 123456, tzinfo=UTC)
ON_THE_SECOND = NOW.replace(microsecond=0)  # sqlite3's own adapter would write it without ".000000"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


def _row(customer_id: int, message_id: str | None) -> dict[str, object]:
    return {
        "customer_id": customer_id, "direction": "in", "channel": "telegram", "platform_message_id": message_id,
        "text": "héllo \u2028 there", "payload": {"choice": "c1", "media": {"kind": "photo", "ref": "é"}},
        "created_at": NOW,
    }  # fmt: skip


async def test_a_row_is_stored_exactly_as_through_the_session(db: Database) -> None:
    async with db.transaction() as session:
        customer = await records.create_with_identity(session, ChannelRef("telegram", "1"), NOW)
        for at in (NOW, ON_THE_SECOND):
            await session.execute(_INSERT_MESSAGES, {**_row(customer.id, f"a{at}"), "created_at": at})
            await plain.execute(session, _INSERT_MESSAGES, {**_row(customer.id, f"b{at}"), "created_at": at})
    async with db.transaction() as session:
        columns = "customer_id, direction, channel, text, payload, created_at"
        if db.is_sqlite:  # as stored: the text of the time and of the JSON, not only what they read back as
            columns = "customer_id, direction, channel, text, payload, created_at, typeof(created_at)"
        stored = (await session.execute(text(f"SELECT {columns} FROM messages ORDER BY id"))).all()
        read = (await session.execute(select(Message).order_by(Message.id))).scalars().all()
    assert len(stored) == 4 and stored[0] == stored[1] and stored[2] == stored[3]
    payload = _row(0, None)["payload"]
    assert [(m.created_at, m.payload) for m in read] == [(NOW, payload)] * 2 + [(ON_THE_SECOND, payload)] * 2


async def test_a_duplicate_message_id_fails_as_through_the_session_and_the_transaction_rolls_back(
    db: Database,
) -> None:
    async with db.transaction() as session:
        customer = await records.create_with_identity(session, ChannelRef("telegram", "1"), NOW)
        await plain.execute(session, _INSERT_MESSAGES, _row(customer.id, "same"))
    with pytest.raises(IntegrityError):  # what the engine reads as a duplicate delivery
        async with db.transaction() as session:
            await plain.execute(session, _INSERT_MESSAGES, _row(customer.id, "other"))
            await plain.execute(session, _INSERT_MESSAGES, _row(customer.id, "same"))
    async with db.transaction() as session:
        ids = (await session.execute(select(Message.platform_message_id))).scalars().all()
    assert ids == ["same"]  # "other" went with its transaction


async def test_a_reply_queued_by_the_session_but_not_yet_written_holds_the_next_one(db: Database) -> None:
    """The new send row asks whether an earlier send to the customer is unsent: one the session only has pending
    must count, as the session's own execute would have written it first."""
    async with db.transaction() as session:
        customer = await records.create_with_identity(session, ChannelRef("telegram", "1"), NOW)
        earlier = OutboxItem(
            kind="send", customer_id=customer.id, dedupe_key="earlier", payload={}, proactive=False, status=PENDING,
            due_at=NOW, attempts=0, created_at=NOW,
        )  # fmt: skip
        session.add(earlier)  # pending: not flushed
        row = {
            "kind": "send", "customer_id": customer.id, "dedupe_key": "later", "payload": {"replies": []},
            "proactive": False, "status": LEASED, "due_at": NOW, "attempts": 1, "lease_until": NOW, "created_at": NOW,
        }  # fmt: skip
        item_id, held = await insert_send(session, row)
    assert held and item_id > earlier.id


async def test_a_transactions_first_statement_runs_straight_and_rolls_back_with_it(db: Database) -> None:
    """On PostgreSQL the BEGIN goes first as SQLAlchemy would send it, then the statement straight: not through the
    session's execute (its statement events never see it), and undone with the rest when the transaction fails."""
    async with db.transaction() as session:
        customer = await records.create_with_identity(session, ChannelRef("telegram", "1"), NOW)
    through_session: list[str] = []
    listener = lambda *args: through_session.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(db.engine.sync_engine, "before_cursor_execute", listener)
    try:
        with pytest.raises(IntegrityError):
            async with db.transaction() as session:
                await plain.execute(session, _INSERT_MESSAGES, _row(customer.id, "first"))
                await plain.execute(session, _INSERT_MESSAGES, _row(customer.id, "first"))  # the same id again
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", listener)
    # Both straight; only the BEGIN went through SQLAlchemy (SQLite's BEGIN IMMEDIATE; asyncpg's is not a statement).
    assert [statement for statement in through_session if not statement.startswith("BEGIN")] == []
    async with db.transaction() as session:
        assert (await session.execute(select(Message.platform_message_id))).scalars().all() == []


async def test_a_new_object_added_straight_is_written_as_the_orm_would_and_is_the_sessions_own(db: Database) -> None:
    """`add_loaded`: the row has every column the ORM's flush would write (defaults included), and the object is the
    session's, with its id, nothing pending and nothing left to load."""
    async with db.transaction() as session:
        through_orm = Customer(display_name="Ana", created_at=NOW)
        session.add(through_orm)
        await session.flush()
        straight = Customer(display_name="Ana", created_at=NOW)
        await plain.add_loaded(session, straight)
        assert straight.id > through_orm.id and not (session.new or session.dirty)
        assert (straight.tier, straight.subscribed, straight.tags, straight.attributes) == ("standard", True, [], {})
        assert await session.get(Customer, straight.id) is straight
        straight.tier = "gold"  # a change made after is flushed as for any loaded object
    columns = [c for c in Customer.__table__.columns if c.name not in ("id", "tier")]
    async with db.transaction() as session:
        rows = (await session.execute(select(*columns, Customer.tier).order_by(Customer.id))).all()
    assert tuple(rows[0])[:-1] == tuple(rows[1])[:-1] and (rows[0].tier, rows[1].tier) == ("standard", "gold")


async def test_an_object_written_straight_is_left_unchanged_for_the_orm_and_a_later_change_is_flushed(
    db: Database,
) -> None:
    """`written`: what a statement wrote of an object is not flushed again (the ORM would write it over the row the
    statement wrote), and a change made after is flushed as for any loaded object, not lost."""
    async with db.transaction() as session:
        customer = Customer(display_name="Ana", created_at=NOW)
        await plain.add_loaded(session, customer)
        customer.display_name = "Bea"
        await plain.execute(session, text("UPDATE customers SET display_name = 'Bea', tier = 'silver' WHERE id = :id"),
                            {"id": customer.id})  # fmt: skip
        plain.written(session, customer)
        assert customer in session and not session.dirty
        updates: list[str] = []
        listen = (db.engine.sync_engine, "before_cursor_execute")
        count = lambda _c, _cur, sql, *_rest: updates.append(sql) if sql.startswith("UPDATE") else None  # noqa: E731
        event.listen(*listen, count)
        try:
            await session.flush()  # nothing of the customer: its tier stays as the statement wrote it
            assert updates == []
            customer.phone = "+33 6 12 34 56 78"
            await session.flush()
            assert len(updates) == 1
        finally:
            event.remove(*listen, count)
    async with db.transaction() as session:
        row = (await session.execute(select(Customer.display_name, Customer.tier, Customer.phone))).one()
    assert tuple(row) == ("Bea", "silver", "+33 6 12 34 56 78")


async def test_a_statement_on_an_autocommit_connection_commits_on_its_own_and_fails_as_through_it(
    db: Database,
) -> None:
    """`Database.statements` (each outbox mark): on PostgreSQL an autocommit connection, whose statements go straight
    to the driver; on SQLite a transaction. Each statement stands on its own: a failing one takes nothing with it."""
    async with db.transaction() as session:
        customer = await records.create_with_identity(session, ChannelRef("telegram", "1"), NOW)
    async with db.statements() as conn:
        await plain.execute(conn, _INSERT_MESSAGES, _row(customer.id, "first"))
        if db.is_postgres:  # on SQLite the failure would end the transaction the rest runs in
            with pytest.raises(IntegrityError):
                await plain.execute(conn, _INSERT_MESSAGES, _row(customer.id, "first"))
        await plain.execute(conn, _INSERT_MESSAGES, _row(customer.id, "second"))
    async with db.transaction() as session:
        ids = (await session.execute(select(Message.platform_message_id).order_by(Message.id))).scalars().all()
    assert ids == ["first", "second"]


async def test_a_row_read_straight_becomes_the_sessions_object_as_the_orms_loading_makes_it(db: Database) -> None:
    """`as_loaded` (the sender read with each message): the object is the one the session's own loading would hold,
    nothing pending, and a change to it is flushed as for any loaded object. It takes SQLAlchemy's internal way
    (`loads_as_the_orm`): this fails when a SQLAlchemy release no longer has it, and the slower public way is taken."""
    async with db.transaction() as session:
        made = await records.create_with_identity(session, ChannelRef("telegram", "7"), NOW)
        made_id, values = made.id, {key: getattr(made, key) for key in Customer.__mapper__.columns.keys()}
    async with db.transaction() as session:
        assert plain.loads_as_the_orm(session.sync_session)
        read = plain.as_loaded(session.sync_session, Customer, values)
        assert plain.as_loaded(session.sync_session, Customer, values) is read  # held, as the identity map keeps it
        assert await session.get(Customer, made_id) is read
        assert not (session.new or session.dirty) and read in session and read.tags == []
        read.tags = ["vip"]
        assert list(session.dirty) == [read]
    async with db.transaction() as session:
        assert (await session.get(Customer, made_id)).tags == ["vip"]
