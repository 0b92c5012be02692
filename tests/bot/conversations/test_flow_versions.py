"""The flow versions conversations ran on: stored once, even when two instances start a new version at once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from bot.conversations.models import FlowVersion
from bot.conversations.turn import Turn
from bot.conversations.versions import FlowVersions
from bot.core import Core
from bot.customers.models import Customer


async def _until_a_backend_waits_on_a_lock(core: Core) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    async with asyncio.timeout(10):
        while True:
            async with core.db.sessions() as session:
                if await session.scalar(query):
                    return
            await asyncio.sleep(0.01)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_two_instances_storing_a_new_version_at_once_both_go_on(core: Core) -> None:
    flow = core.registry.current("onboarding")
    assert flow is not None
    async with core.db.transaction() as session:
        session.add_all([Customer(tier="standard", attributes={}, tags=[]) for _ in range(2)])
    first_session, second_session = core.db.transaction(), core.db.transaction()
    async with first_session as first, second_session as second:
        people = (await first.execute(select(Customer))).scalars().all()
        # Two instances, each with its own memory of what it stored.
        await FlowVersions(core.registry).store(Turn(first, people[0], core.clock.now(), "web"), flow)
        # The second waits on the first's uncommitted row; when that commits, it must go on, not fail its turn.
        racing = asyncio.create_task(
            FlowVersions(core.registry).store(Turn(second, people[1], core.clock.now(), "web"), flow)
        )
        await _until_a_backend_waits_on_a_lock(core)
        await first.commit()
        await racing
    async with core.db.sessions() as session:
        stored = await session.scalar(
            select(func.count()).select_from(FlowVersion).where(FlowVersion.flow_id == "onboarding")
        )
    assert stored == 1
