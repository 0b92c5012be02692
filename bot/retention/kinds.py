"""The outbox kind the retention programs own: start one of their flows for one customer, when the delivery policy
lets it through and the program still wants it (the customer did not come back, activate or open a ticket
meanwhile)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.outbox import Claimed, Handler
from bot.outbox.models import CANCELLED, PENDING, OutboxItem

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.conversations.engine import ConversationEngine
    from bot.ports import Clock
    from bot.storage.database import Database

log = logging.getLogger(__name__)
# Turns a row's recorded send decision into a skip (bot/outreach/delivery/policy.py, a layer above: passed in).
Withdraw = Callable[[AsyncSession, int, str], Awaitable[None]]


class RetentionKind(StrEnum):
    # Start a program's flow (payload: program, flow_id, data). Counted by the frequency cap like a campaign.
    FLOW = "retention_flow"


async def queue_flow(
    session: AsyncSession, *, program: str, key: str, customer_id: int, flow_id: str, due_at: datetime,
    data: dict[str, Any],
) -> bool:  # fmt: skip
    """One program message for one customer, once per `program:key` (True when queued now)."""
    return await outbox.enqueue(
        session, kind=RetentionKind.FLOW, dedupe_key=f"{program}:{key}", due_at=due_at, customer_id=customer_id,
        payload={"program": program, "flow_id": flow_id, "data": {**data, "program": program}}, proactive=True,
    )  # fmt: skip


async def cancel_queued(session: AsyncSession, key_prefix: str, now: datetime, why: str) -> int:
    """Cancel a program's messages still waiting (dedupe keys starting with `key_prefix`); how many."""
    result = await session.execute(
        update(OutboxItem)
        .where(OutboxItem.kind == RetentionKind.FLOW, OutboxItem.status == PENDING,
               OutboxItem.dedupe_key.startswith(key_prefix, autoescape=True))
        .values(status=CANCELLED, finished_at=now, last_error=why[:200])
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def outbox_handlers(
    engine: ConversationEngine, db: Database, settings: Settings, clock: Clock, withdraw: Withdraw
) -> dict[str, Handler]:
    """The handler of the retention kind, registered with the dispatcher (bot/core.py). A message the program no
    longer wants is not sent, and its send decision is withdrawn."""
    # Imported here: the programs read the tables of the features below, the kind table is read by the policy.
    from bot.retention import checks

    async def start_program_flow(item: Claimed) -> bool:
        assert item.customer_id is not None
        payload = item.payload
        program, data = str(payload.get("program")), dict(payload.get("data") or {})
        async with db.transaction() as session:
            why_not = await checks.why_not(session, settings, program, item.customer_id, data, clock.now())
            if why_not is not None:
                await checks.stopped(session, program, data, why_not)
                await withdraw(session, item.id, f"not wanted any more: {why_not}")
        if why_not is not None:
            log.info("%s message for customer #%d not sent: %s", program, item.customer_id, why_not)
            return True
        started = await engine.start_flow_for(item.customer_id, payload["flow_id"], data)
        if started:
            async with db.transaction() as session:
                await checks.sent(session, program, data, clock.now())
        return started

    return {RetentionKind.FLOW: Handler(start_program_flow, needs_customer=True)}
