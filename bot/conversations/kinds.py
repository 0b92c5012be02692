"""The outbox kinds the conversations feature owns, and the handlers of its kinds and of customer events."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from bot.customers.kinds import CustomerKind
from bot.outbox import Claimed, Handler

if TYPE_CHECKING:
    from bot.conversations.engine import ConversationEngine


class ConversationKind(StrEnum):
    # Continue a run paused by `wait` (payload: run_id).
    RESUME_RUN = "resume_run"
    # An unanswered proactive question: remind, or move on without the answer (payload: run_id, step_index, n).
    REMIND_RUN = "remind_run"
    # Start a flow when the customer is free (payload: flow_id, data).
    START_FLOW = "start_flow"


def outbox_handlers(engine: ConversationEngine) -> dict[str, Handler]:
    """The handlers the engine carries out, registered with the dispatcher (bot/core.py): the conversation
    kinds, and the customers feature's events (which fire flows)."""

    async def resume_run(item: Claimed) -> bool:
        return await engine.resume_run(int(item.payload["run_id"]))

    async def remind_run(item: Claimed) -> bool:
        return await engine.remind_run(item.payload)

    async def start_flow(item: Claimed) -> bool:
        assert item.customer_id is not None
        return await engine.start_flow_for(item.customer_id, item.payload["flow_id"], item.payload.get("data"))

    async def fire_event(item: Claimed) -> bool:
        # Ticket events are about what the customer is waiting for, so they may interrupt; CRM
        # events (signed_up, ...) are proactive and wait for a free moment.
        assert item.customer_id is not None
        payload = item.payload
        interrupt = bool(payload.get("interrupt", True))
        await engine.fire_event(item.customer_id, payload["event"], payload.get("data"), interrupt=interrupt)
        return True

    return {
        ConversationKind.RESUME_RUN: Handler(resume_run),
        ConversationKind.REMIND_RUN: Handler(remind_run),
        ConversationKind.START_FLOW: Handler(start_flow, needs_customer=True),
        CustomerKind.EVENT: Handler(fire_event, needs_customer=True),
    }
