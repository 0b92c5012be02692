"""Group commit: messages of many customers at once share transactions, and a bad one costs the others nothing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, select, text

from bot.conversations.group_commit import GroupCommit
from bot.core import Core
from bot.messages import Inbound
from bot.transcript import Message


def commits_of(core: Core) -> list[int]:
    seen: list[int] = []
    event.listen(core.db.engine.sync_engine, "commit", lambda _conn: seen.append(1))
    return seen


async def stored_texts(core: Core, channel: str) -> list[str]:
    async with core.db.transaction() as session:
        rows = await session.execute(
            select(Message.text).where(Message.channel == channel, Message.direction == "in").order_by(Message.id)
        )
        return list(rows.scalars())


async def test_customers_writing_at_once_are_each_answered_in_a_few_transactions(core: Core) -> None:
    customers = [f"c{n}" for n in range(30)]
    for address in customers:
        await core.engine.handle(Inbound("web", address, text="hi", message_id=f"{address}-hi"))
    commits = commits_of(core)

    answers = await asyncio.gather(
        *(
            core.engine.handle(Inbound("web", address, text="/nps", message_id=f"{address}-nps"))
            for address in customers
        )
    )

    assert all("0" in r[-1].text and "10" in r[-1].text for r in answers)  # each got the NPS question
    assert len(commits) < len(customers) / 3  # not a transaction each
    said = await stored_texts(core, "web")
    assert sorted(said) == sorted(["hi"] * 30 + ["/nps"] * 30)


async def test_a_duplicate_delivery_in_a_batch_is_dropped_and_the_others_are_answered(core: Core) -> None:
    customers = [f"d{n}" for n in range(12)]
    for address in customers:
        await core.engine.handle(Inbound("web", address, text="hi", message_id=f"{address}-hi"))

    # The sixth customer's "hi" comes again (a platform retry) among everyone's next message.
    messages = [Inbound("web", a, text="/nps", message_id=f"{a}-nps") for a in customers]
    messages[5] = Inbound("web", "d5", text="hi", message_id="d5-hi")
    answers = await asyncio.gather(*(core.engine.handle(m) for m in messages))

    assert answers[5] == []  # the duplicate: no second answer
    assert all(r and "10" in r[-1].text for n, r in enumerate(answers) if n != 5)
    said = await stored_texts(core, "web")
    assert said.count("hi") == 12 and said.count("/nps") == 11  # nothing stored twice, nothing lost


async def test_one_message_of_a_batch_may_fail_alone() -> None:
    ran_together: list[list[str]] = []

    async def together(items: list[str]) -> list[str]:
        ran_together.append(items)
        if "bad" in items:
            raise RuntimeError("one bad message")
        return [item.upper() for item in items]

    async def alone(item: str) -> str:
        await asyncio.sleep(0)
        if item == "bad":
            raise RuntimeError("one bad message")
        return item.upper()

    group: GroupCommit[str, str] = GroupCommit(together, alone, max_batch=3, lanes=1)
    results = await asyncio.gather(*(group.submit(i) for i in ["a", "b", "bad", "c", "d"]), return_exceptions=True)

    assert results[:2] == ["A", "B"] and results[3:] == ["C", "D"]
    assert isinstance(results[2], RuntimeError)
    # In batches of at most three; the one with "bad" went again one by one
    assert ran_together == [["a", "b", "bad"], ["c", "d"]]


async def test_messages_handed_over_at_once_are_shared_among_the_lanes() -> None:
    """Polling hands sixteen messages over at once: all in the first lane's batch, they went one after another
    while the second lane had nothing to do (on PostgreSQL each waits for its round trips)."""
    in_flight = 0
    most_at_once = 0
    batches: list[list[int]] = []

    async def together(items: list[int]) -> list[int]:
        nonlocal in_flight, most_at_once
        in_flight += 1
        most_at_once = max(most_at_once, in_flight)
        batches.append(items)
        await asyncio.sleep(0.01)  # the batch's round trips
        in_flight -= 1
        return items

    async def alone(item: int) -> int:
        return item

    group: GroupCommit[int, int] = GroupCommit(together, alone, max_batch=32, lanes=2)
    assert await asyncio.gather(*(group.submit(n) for n in range(16))) == list(range(16))
    assert sorted(len(batch) for batch in batches) == [8, 8]
    assert most_at_once == 2


async def test_a_caller_that_gives_up_does_not_cut_the_others_batch_short() -> None:
    release = asyncio.Event()
    done: list[list[str]] = []

    async def together(items: list[str]) -> list[str]:
        await release.wait()
        done.append(items)
        return items

    async def alone(item: str) -> str:
        return item

    group: GroupCommit[str, str] = GroupCommit(together, alone, max_batch=10, lanes=1)
    first = asyncio.create_task(group.submit("first"))  # starts a lane: runs alone
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(group.submit(x)) for x in ("x", "y", "z")]
    await first
    await asyncio.sleep(0)
    waiting[1].cancel()  # "y" gave up while its batch runs
    release.set()
    assert await waiting[0] == "x" and await waiting[2] == "z"
    assert done == [["x", "y", "z"]]  # the batch went through whole


async def test_a_message_whose_caller_gave_up_before_its_batch_started_is_not_run() -> None:
    release = asyncio.Event()
    ran: list[str] = []

    async def alone(item: str) -> str:
        if item == "first":
            await release.wait()
        ran.append(item)
        return item

    async def together(items: list[str]) -> list[str]:
        ran.extend(items)
        return items

    group: GroupCommit[str, str] = GroupCommit(together, alone, max_batch=10, lanes=1)
    first = asyncio.create_task(group.submit("first"))
    await asyncio.sleep(0)
    gone = asyncio.create_task(group.submit("gone"))
    kept = asyncio.create_task(group.submit("kept"))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    assert await first == "first" and await kept == "kept"
    assert ran == ["first", "kept"]


async def test_messages_one_after_another_each_start_a_transaction_at_once() -> None:
    async def alone(item: int) -> int:
        await asyncio.sleep(0)
        return item

    group: GroupCommit[int, int] = GroupCommit(alone, alone, max_batch=10, lanes=1)  # type: ignore[arg-type]
    for n in range(5):  # each submitted the moment the last one's lane finished
        assert await asyncio.wait_for(group.submit(n), 5) == n


# Row locks: PostgreSQL only (SQLite has one writer).
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
async def test_a_batch_locks_its_customers_in_the_order_other_work_does_and_never_deadlocks(core: Core) -> None:
    for address in ("first", "second"):  # customer ids in this order
        await core.engine.handle(Inbound("web", address, text="hi", message_id=f"{address}-hi"))
    deadlocks = text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    async with core.db.engine.connect() as other:
        before = (await other.execute(deadlocks)).scalar_one()
        await other.commit()
        # Outreach clearing (or campaign planning's foreign keys) holds the first customer, and will want the second.
        await other.execute(text("SELECT id FROM customers ORDER BY id LIMIT 1 FOR UPDATE"))
        # Meanwhile both customers write: one batch, the second customer's message first.
        answered = asyncio.gather(
            core.engine.handle(Inbound("web", "second", text="/nps", message_id="second-nps")),
            core.engine.handle(Inbound("web", "first", text="/nps", message_id="first-nps")),
        )
        async with core.db.engine.connect() as watcher:  # another session's state: polled, nothing to await
            for _ in range(1000):  # the batch waits for the first customer
                if (await watcher.execute(waiting)).scalar_one():
                    break
                await watcher.rollback()  # pg_stat_activity is read once per transaction: a new one sees anew
                await asyncio.sleep(0.01)
        await other.execute(text("SELECT id FROM customers ORDER BY id OFFSET 1 LIMIT 1 FOR UPDATE"))
        await other.commit()
        replies = await answered
        assert all("10" in r[-1].text for r in replies)
        assert (await other.execute(deadlocks)).scalar_one() == before  # nobody waited for a deadlock to be broken


async def test_inline_a_message_that_finds_nothing_running_goes_alone_in_its_callers_task() -> None:
    """`inline` (PostgreSQL's engine): no lane's task for a message of a quiet bot; those handed over on the same turn
    of the loop (a polled batch) or while it runs go together, and one whose caller gives up rolls back alone."""
    release = asyncio.Event()
    ran: list[tuple[str, asyncio.Task[object] | None]] = []
    batches: list[list[str]] = []

    async def alone(item: str) -> str:
        ran.append((item, asyncio.current_task()))
        await release.wait()
        return item.upper()

    async def together(items: list[str]) -> list[str]:
        batches.append(items)
        return [item.upper() for item in items]

    async def turns(n: int) -> None:
        for _ in range(n):
            await asyncio.sleep(0)

    group: GroupCommit[str, str] = GroupCommit(together, alone, max_batch=10, lanes=1, inline=True)
    first = asyncio.create_task(group.submit("first"))
    await turns(3)
    assert ran == [("first", first)]  # in the caller's own task
    later = [asyncio.create_task(group.submit(x)) for x in ("x", "y")]
    await turns(3)
    release.set()
    assert await first == "FIRST" and [await task for task in later] == ["X", "Y"]
    assert batches == [["x", "y"]]

    polled = [asyncio.create_task(group.submit(x)) for x in ("a", "b", "c")]  # handed over at once, the bot idle
    assert [await task for task in polled] == ["A", "B", "C"] and batches[-1] == ["a", "b", "c"]

    release.clear()
    gives_up = asyncio.create_task(group.submit("gives up"))
    await turns(3)
    gives_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gives_up
    release.set()
    assert await group.submit("next") == "NEXT"  # nothing left running or held
