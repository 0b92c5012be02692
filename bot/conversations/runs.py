"""The answer stage: the customer's run in the foreground, started, given its answer and advanced by the flow
runner (runner.py); a start sets the current run aside on the stack of interrupted flows (interrupted.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Any, Literal

from sqlalchemy import bindparam, or_, select

from bot import outbox
from bot.config import Settings
from bot.conversations import buttons, checkins
from bot.conversations import schema as s
from bot.conversations.answers import Parsed
from bot.conversations.interrupted import InterruptedFlows
from bot.conversations.kinds import ConversationKind
from bot.conversations.loader import LoadedFlow
from bot.conversations.models import ACTIVE, CANCELLED, SUSPENDED, WAITING, ConversationRun
from bot.conversations.registry import FlowRegistry
from bot.conversations.runner import FlowHandOff, FlowRunner
from bot.conversations.speech import Speech
from bot.conversations.steplog import ANSWERED, log_step
from bot.conversations.turn import Turn
from bot.conversations.versions import FlowVersions
from bot.messages import Button, Reply
from bot.storage import plain
from bot.tickets import lifecycle
from bot.tickets import records as tickets

log = logging.getLogger(__name__)

FIRST_CONTACT = "first_contact"  # the event a new customer's first message fires (onboarding)

# Built once, as it runs for every message: building a statement costs more Python than SQLite takes to run it.
_ACTIVE_RUNS = (
    select(ConversationRun)
    .where(ConversationRun.customer_id == bindparam("customer_id"), ConversationRun.status == ACTIVE)
    .order_by(ConversationRun.id.desc())
)
_OPEN_RUNS_OF_FLOW = select(ConversationRun).where(
    ConversationRun.customer_id == bindparam("customer_id"),
    ConversationRun.flow_id == bindparam("flow_id"),
    or_(ConversationRun.status == WAITING, ConversationRun.status == SUSPENDED),  # no IN list: plain.py takes it
)


class Unread(Enum):
    """`FlowRuns.start` looks for the run in the foreground itself."""

    UNREAD = 0


@dataclass
class Running:
    """A run in the foreground with the very version of the flow it started on."""

    run: ConversationRun
    lf: LoadedFlow

    @property
    def step(self) -> s.AnyStep:
        return self.lf.flow.steps[self.run.step_index]


@dataclass
class FlowRuns:
    """Starts, answers, advances and gives up the customer's run in the foreground."""

    settings: Settings
    registry: FlowRegistry
    runner: FlowRunner
    versions: FlowVersions
    interrupted: InterruptedFlows
    speech: Speech

    async def active(self, turn: Turn) -> Running | None:
        """The run in the foreground, if any (at most one: any other is closed)."""
        runs = turn.runs_in(ACTIVE)
        if runs is None:
            runs = await plain.load(turn.session, ConversationRun, _ACTIVE_RUNS, {"customer_id": turn.customer.id})
        for extra in runs[1:]:
            extra.finish(turn.now, CANCELLED)  # at most one foreground run per customer
        if not runs:
            return None
        lf = await self.versions.of_run(turn, runs[0])
        if lf is None:
            return None
        return Running(runs[0], lf)

    async def start(
        self, turn: Turn, flow_id: str, data: dict[str, Any] | None, *,
        active: Running | Literal[Unread.UNREAD] | None = Unread.UNREAD,
    ) -> bool:  # fmt: skip
        """Start the flow in force now; the run in the foreground is set aside (or restarted if it is this flow).
        `active`: the run in the foreground, when the caller has just looked (the route stage), not to look twice."""
        lf = self.registry.current(flow_id)
        if lf is None:
            log.error("flow %r is not loaded; cannot start it", flow_id)
            turn.say(self.speech.menu(self.speech.texts.fallback))
            return False
        if active is Unread.UNREAD:
            active = await self.active(turn)
        if active is not None:
            if active.lf.id == flow_id:
                active.run.finish(turn.now, CANCELLED)  # starting a flow again restarts it
            else:
                self._acknowledge_set_aside(turn, active)
                active.run.set_aside(turn.now)
        for other in await self._open_runs(turn, flow_id):
            other.finish(turn.now, CANCELLED)
        await self.versions.store(turn, lf)
        context: dict[str, Any] = {"trigger": data or {}}
        # Only a real ticket of this customer's: a flow about a ticket (the follow-up after a resolution) shows it.
        ticket = await lifecycle.ticket_of_customer(turn.session, turn.customer.id, (data or {}).get("ticket_id"))
        if ticket is not None:
            view = await tickets.template_view(turn.session, ticket, self.settings)
            context.update(ticket_id=ticket.id, ticket=view.as_context())
        run = ConversationRun(
            customer_id=turn.customer.id, flow_id=lf.id, flow_version=lf.version, step_index=0,
            status=ACTIVE, answers={}, context=context, started_at=turn.now, updated_at=turn.now,
        )  # fmt: skip
        # Its id now, for its step log (straight: the ORM's flush cost more). A customer made this turn brought
        # the id with them, and the row goes with the replies' statement.
        if turn.first_run_id is not None:
            plain.add_later(turn.session, run, turn.first_run_id)
            turn.first_run_id = None
        else:
            await plain.add_loaded(turn.session, run)
        turn.started(run)
        await self.run(turn, Running(run, lf))
        return True

    async def start_event_flows(self, turn: Turn, event: str, data: dict[str, Any] | None) -> bool:
        flow_ids = self.registry.indexes.events.get(event, [])
        for flow_id in flow_ids[:1]:  # one foreground flow per event; the first file wins
            return await self.start(turn, flow_id, {"trigger": "event", "event": event, **(data or {})})
        return False

    async def defer_start(self, turn: Turn, flow_id: str, data: dict[str, Any] | None) -> None:
        """Start the flow later, when the customer is not in the middle of a conversation."""
        await outbox.enqueue(
            turn.session, kind=ConversationKind.START_FLOW,
            dedupe_key=f"start:{flow_id}:{turn.customer.id}:{turn.now.timestamp()}",
            due_at=turn.now + timedelta(minutes=self.settings.outreach.defer_minutes), customer_id=turn.customer.id,
            payload={"flow_id": flow_id, "data": data or {}}, proactive=True,
        )  # fmt: skip

    async def run(self, turn: Turn, running: Running) -> None:
        """Advance the run until it asks, waits or ends; a flow that ends hands the foreground back."""
        try:
            await self.runner.advance(turn, running.run, running.lf)
        except FlowHandOff as handoff:
            running.run.finish(turn.now)
            await self.start(turn, handoff.flow_id, {"trigger": "start_flow", "from": running.lf.id})
            return
        running.run.updated_at = turn.now
        if running.run.status != ACTIVE:
            # Ended or paused by a wait: either way the foreground is free for the flow it interrupted.
            await self.interrupted.resume_latest(turn)

    async def take_answer(self, turn: Turn, active: Running, parsed: Parsed) -> None:
        """A valid answer moves the run on; an invalid one asks again, until the retries run out."""
        run, step = active.run, active.step
        assert isinstance(step, s.AskStep)
        if parsed.ok:
            log_step(turn, run, active.lf, ANSWERED)
            await checkins.settle(turn, run)
            run.answers = {**(run.answers or {}), checkins.answer_key(step, run.step_index): parsed.value}
            run.awaiting_answer = False
            run.attempts = 0
            run.step_index = self.runner.next_index(active.lf, run.step_index)
            run.updated_at = turn.now
            await self.run(turn, active)
            return
        run.attempts += 1
        run.updated_at = turn.now
        retries = step.retries if step.retries is not None else self.settings.conversation.max_retries
        if run.attempts > retries:
            texts = self.speech.texts
            turn.say(Reply(self.speech.render(texts.trouble), (
                Button(texts.talk_to_human, buttons.WordButton("human").value),
                Button(texts.try_again, buttons.WordButton("retry").value),
            )))  # fmt: skip
            return
        turn.say(self.runner.reask(turn, run, active.lf))

    async def give_up(self, turn: Turn, running: Running) -> None:
        """Go on without the answer: at the question's `on_timeout` step, else where an answer leads."""
        run, lf, step = running.run, running.lf, running.step
        assert isinstance(step, s.AskStep)
        checkins.give_up(run, step, turn.now, self.settings.outreach.checkins)
        target = lf.index_of(step.on_timeout) if step.on_timeout else self.runner.next_index(lf, run.step_index)
        if run.status == SUSPENDED:
            # Another flow has the foreground. A check-in that only waits for its next day goes on quietly;
            # one that would talk goes on through a resume, which waits its turn like any `wait`.
            after = lf.flow.steps[target] if target < len(lf.flow.steps) else None
            if after is None:
                run.finish(turn.now)
            elif isinstance(after, s.WaitStep):
                await self.runner.pause(turn, run, self.runner.next_index(lf, target), turn.now + after.duration)
            else:
                await self.runner.pause(turn, run, target, turn.now)
            return
        run.step_index = target
        await self.run(turn, running)

    def reask_if_waiting(self, turn: Turn, active: Running | None) -> None:
        """The open question again, so a reply to something else does not leave it behind."""
        if active is not None and active.run.awaiting_answer:
            turn.say(self.runner.question(turn, active.run, active.lf))

    def _acknowledge_set_aside(self, turn: Turn, active: Running) -> None:
        """A question the customer has in front of them is closed in words before another flow starts, so the
        chat does not read as if it were still waiting; a proactive start (nobody is reading) says nothing."""
        if active.run.awaiting_answer and not turn.proactive:
            turn.say(self.speech.reply(self.speech.texts.set_aside))

    async def _open_runs(self, turn: Turn, flow_id: str) -> list[ConversationRun]:
        waiting, suspended = turn.runs_in(WAITING, flow_id), turn.runs_in(SUSPENDED, flow_id)
        if waiting is not None and suspended is not None:
            return waiting + suspended
        params = {"customer_id": turn.customer.id, "flow_id": flow_id}
        return await plain.load(turn.session, ConversationRun, _OPEN_RUNS_OF_FLOW, params)
