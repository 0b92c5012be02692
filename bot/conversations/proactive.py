"""Turns without an inbound message, carried out from the outbox: an event's flows, a run resumed after a `wait`,
a reminder or give-up of an unanswered check-in question, a deferred or campaign start. They skip the receive
and route stages, use the answer stage (runs.py) and deliver through the outbox (deliver.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversations import activity, checkins
from bot.conversations.deliver import deliver_proactively
from bot.conversations.models import ACTIVE, CANCELLED, WAITING, ConversationRun
from bot.conversations.runs import FlowRuns, Running
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn
from bot.customers import records as customers
from bot.messages import Reply
from bot.ports import Clock
from bot.storage.database import Database


@dataclass
class ProactiveTurns:
    """The engine's turns without an inbound message, each in its own transaction."""

    db: Database
    clock: Clock
    runs: FlowRuns
    speech: Speech

    async def fire_event(
        self, customer_id: int, event: str, data: dict[str, Any] | None = None, *, interrupt: bool = False
    ) -> list[Reply]:
        """Start the flows an event triggers (e.g. signed_up). Replies go out through the outbox.

        A customer in the middle of a flow is not interrupted (the start is deferred), unless the
        event is about something they are waiting for (`interrupt`, e.g. their ticket was resolved).
        """
        async with self.db.transaction() as session:
            turn = await self._turn(session, customer_id)
            if not interrupt and not turn.customer.subscribed:
                return []  # opted out after the dispatcher cleared it
            if not interrupt and await activity.mid_conversation(session, customer_id, turn.now):
                for flow_id in self.runs.registry.indexes.events.get(event, []):
                    await self.runs.defer_start(turn, flow_id, data)
                return []
            await self.runs.start_event_flows(turn, event, data)
            await deliver_proactively(turn, f"event:{event}:{customer_id}:{turn.now.timestamp()}")
            return turn.replies

    async def resume_run(self, run_id: int) -> bool:
        """Continue a run paused by `wait`. False when it must wait longer (the customer is mid-flow)."""
        async with self.db.transaction() as session:
            run = await session.get(ConversationRun, run_id)
            if run is None or run.status != WAITING:
                return True
            turn = await self._turn(session, run.customer_id)
            if not _reachable(turn):
                run.finish(turn.now, CANCELLED)  # blocked us or opted out: no more check-ins
                return True
            active = await self.runs.active(turn)
            if active is not None:
                if await activity.mid_conversation(session, turn.customer.id, turn.now):
                    return False
                # A question left unanswered for a while: set it aside; it is picked up again afterwards.
                active.run.set_aside(turn.now)
            lf = await self.runs.versions.of_run(turn, run)
            if lf is None:
                return True
            run.status = ACTIVE
            run.resume_at = None
            await self.runs.run(turn, Running(run, lf))
            await deliver_proactively(turn, f"resume:{run.id}:{run.step_index}:{turn.now.timestamp()}")
            return True

    async def remind_run(self, payload: dict[str, Any]) -> bool:
        """An unanswered proactive question: ask it again, or (give-up) go on without its answer."""
        async with self.db.transaction() as session:
            run = await session.get(ConversationRun, int(payload["run_id"]))
            if run is None:
                return True
            customer = await customers.lock(session, run.customer_id)
            await session.refresh(run)  # as it is now that the customer's own messages wait for us
            if not checkins.still_asking(run, payload):
                return True  # answered, cancelled or moved on meanwhile
            turn = Turn(session, customer, self.clock.now(), channel="", proactive=True)
            if not _reachable(turn):
                run.finish(turn.now, CANCELLED)
                return True
            lf = await self.runs.versions.of_run(turn, run)
            if lf is None:
                return True
            if payload.get("action") == checkins.REMIND:
                if run.status != ACTIVE or checkins.overtaken(payload, turn.now):
                    return True  # set aside for another flow (asked again when picked up), or overdue
                reminder = self.speech.render(self.speech.texts.reminder)
                turn.say(self.runs.runner.question(turn, run, lf, prefix=reminder))
            else:
                await self.runs.give_up(turn, Running(run, lf))
            await deliver_proactively(turn, f"remind:{payload['run_id']}:{payload['step_index']}:"
                                            f"{payload.get('n')}:{payload['asked']}")  # fmt: skip
            return True

    async def start_flow_for(self, customer_id: int, flow_id: str, data: dict[str, Any] | None = None) -> bool:
        """Start a flow proactively (deferred start, campaigns); False when the customer is busy."""
        async with self.db.transaction() as session:
            turn = await self._turn(session, customer_id)
            if not _reachable(turn):
                return True  # opted out (or blocked us) after the dispatcher cleared it: nothing to start
            # Not while they are chatting; a flow left unanswered for a while is suspended by the start.
            if await activity.mid_conversation(session, customer_id, turn.now):
                return False
            await self.runs.start(turn, flow_id, data)
            await deliver_proactively(turn, f"start:{flow_id}:{customer_id}:{turn.now.timestamp()}")
            return True

    async def _turn(self, session: AsyncSession, customer_id: int) -> Turn:
        """A turn of the customer's, locked for this transaction, with nothing they sent behind it."""
        customer = await customers.lock(session, customer_id)
        return Turn(session, customer, self.clock.now(), channel="", proactive=True)


def _reachable(turn: Turn) -> bool:
    """Subscribed and not known to have blocked us."""
    return turn.customer.subscribed and not turn.customer.unreachable
