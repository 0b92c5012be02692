"""Runs flow steps for one conversation run until it needs an answer, waits, or ends."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, templating
from bot.config import Settings
from bot.conversations import answers as ans
from bot.conversations import checkins
from bot.conversations import schema as s
from bot.conversations.buttons import AnswerButton, FlowButton, WordButton
from bot.conversations.kinds import ConversationKind
from bot.conversations.loader import LoadedFlow
from bot.conversations.models import ACTIVE, CANCELLED, SUSPENDED, WAITING, ConversationRun
from bot.conversations.steplog import log_step
from bot.conversations.turn import Turn
from bot.customers import records as customers
from bot.customers.models import Customer
from bot.messages import Button, Media, Reply
from bot.rewards import claims as rewards
from bot.surveys import responses as surveys
from bot.tickets import intake, lifecycle
from bot.tickets import records as tickets
from bot.tickets.models import Ticket

log = logging.getLogger(__name__)

MAX_STEPS_PER_TURN = 200  # a goto loop without an ask or wait must not hang the process


class FlowHandOff(Exception):
    """Raised inside a run by `start_flow`: the caller starts the named flow."""

    def __init__(self, flow_id: str):
        self.flow_id = flow_id


# What a feature says first to a complaint once it has its ticket (an open incident affecting the customer: its status).
ComplaintHook = Callable[[AsyncSession, Customer, Ticket, datetime], Awaitable[list[Reply]]]


class FlowRunner:
    def __init__(self, settings: Settings):
        self.settings = settings
        # Registered when the core is assembled (bot/core.py), so the engine imports no feature above it.
        self.complaint_hooks: list[ComplaintHook] = []

    # ---- template context ---------------------------------------------------------------------

    def context(self, turn: Turn, run: ConversationRun, lf: LoadedFlow) -> dict[str, Any]:
        return {
            "customer": customers.template_view(turn.customer),
            "answers": dict(run.answers or {}),
            "ticket": (run.context or {}).get("ticket") or {},
            "business": {"name": self.settings.business.name},
            "flow": {"id": lf.id, "title": lf.flow.title},
            # What started the run (an event, a command, an intent, onboarding put off by the first words...).
            "trigger": (run.context or {}).get("trigger") or {},
            "reward": (run.context or {}).get("reward") or {},
            # The cancellation flow sends these reasons to a person as a save attempt (docs/playbook.md).
            "winback": {"fixable_reasons": list(self.settings.winback.fixable_reasons)},
        }

    # ---- asking -------------------------------------------------------------------------------

    def question(self, turn: Turn, run: ConversationRun, lf: LoadedFlow, prefix: str = "") -> Reply:
        step = lf.flow.steps[run.step_index]
        assert isinstance(step, s.AskStep)
        text = templating.render(step.ask, self.context(turn, run, lf))
        buttons = [
            Button(label, AnswerButton(run.id, run.step_index, i).value)
            for i, (label, _value) in enumerate(ans.answer_options(step))
        ]
        if step.optional:
            buttons.append(Button(self.settings.texts.skip, AnswerButton(run.id, run.step_index, None).value))
        return Reply(f"{prefix}\n{text}".strip(), tuple(buttons), answer_kind=step.expect)

    def reask(self, turn: Turn, run: ConversationRun, lf: LoadedFlow) -> Reply:
        """The question again after an invalid answer, with the step's or the default hint."""
        step = lf.flow.steps[run.step_index]
        assert isinstance(step, s.AskStep)
        hint = step.invalid or self.settings.texts.invalid_answer.get(step.expect, "")
        hint = templating.render(hint, self.context(turn, run, lf))
        return self.question(turn, run, lf, prefix=hint)

    # ---- advancing ----------------------------------------------------------------------------

    async def advance(self, turn: Turn, run: ConversationRun, lf: LoadedFlow) -> None:
        """Run steps from run.step_index. Leaves the run awaiting an answer, waiting, or ended."""
        steps = lf.flow.steps
        for _ in range(MAX_STEPS_PER_TURN):
            if run.step_index >= len(steps):
                run.finish(turn.now)
                return
            step = steps[run.step_index]
            log_step(turn, run, lf)  # the `flows` report's funnel (bot/reports/flows.py)
            ctx = self.context(turn, run, lf)
            if isinstance(step, s.AskStep):
                run.awaiting_answer = True
                run.attempts = 0
                turn.say(self.question(turn, run, lf))
                await checkins.on_question(turn, run, step, self.settings.outreach.checkins)
                return
            if isinstance(step, s.WaitStep):
                await self._wait(turn, run, lf, step)
                return
            if isinstance(step, s.EndStep):
                if isinstance(step.end, str) and step.end.strip():
                    turn.say(Reply(templating.render(step.end, ctx)))
                run.finish(turn.now)
                return
            if isinstance(step, s.SayStep):
                turn.say(self._say(step, ctx))
            elif isinstance(step, s.SetStep):
                run.answers = {**run.answers, **{k: _render_value(v, ctx) for k, v in step.set.items()}}
            elif isinstance(step, s.ActionStep):
                await self._action(turn, run, lf, step, ctx)
            elif isinstance(step, s.GotoStep):
                run.step_index = lf.index_of(step.goto)
                continue
            elif isinstance(step, s.BranchStep):
                run.step_index = self._branch(lf, step, run.step_index, ctx)
                continue
            run.step_index = self.next_index(lf, run.step_index)
        log.error("flow %s ran %d steps without pausing; ending it", lf.id, MAX_STEPS_PER_TURN)
        run.finish(turn.now)

    def next_index(self, lf: LoadedFlow, index: int) -> int:
        nxt = getattr(lf.flow.steps[index], "next", None)
        return lf.index_of(nxt) if nxt else index + 1

    def _say(self, step: s.SayStep, ctx: dict[str, Any]) -> Reply:
        buttons = tuple(Button(b.label, _say_button(b).value) for b in step.buttons)
        media = Media("photo", step.media) if step.media else None
        return Reply(templating.render(step.say, ctx), buttons, media=media)

    def _branch(self, lf: LoadedFlow, step: s.BranchStep, index: int, ctx: dict[str, Any]) -> int:
        for case in step.branch:
            if templating.evaluate(case.when, ctx):
                return lf.index_of(case.goto)
        return lf.index_of(step.otherwise) if step.otherwise else index + 1

    async def _wait(self, turn: Turn, run: ConversationRun, lf: LoadedFlow, step: s.WaitStep) -> None:
        await self.pause(turn, run, self.next_index(lf, run.step_index), turn.now + step.duration)

    async def pause(self, turn: Turn, run: ConversationRun, step_index: int, resume_at: datetime) -> None:
        """Continue the run at `step_index` at `resume_at`, through the outbox (a `wait`, or a question
        given up while another flow had the foreground)."""
        run.status = WAITING
        run.awaiting_answer = False
        run.step_index = step_index
        run.resume_at = resume_at
        run.updated_at = turn.now
        await turn.session.flush()
        # The due time is part of the key: a wait reached again (in a loop) is a new resume, not a duplicate.
        await outbox.enqueue(
            turn.session, kind=ConversationKind.RESUME_RUN,
            dedupe_key=f"resume:{run.id}:{run.step_index}:{resume_at.timestamp()}",
            due_at=resume_at, customer_id=turn.customer.id, payload={"run_id": run.id},
            proactive=True,
        )  # fmt: skip

    # ---- actions ------------------------------------------------------------------------------

    async def _action(
        self, turn: Turn, run: ConversationRun, lf: LoadedFlow, step: s.ActionStep, ctx: dict[str, Any]
    ) -> None:
        customer = turn.customer
        if step.action in ("open_ticket", "handoff"):
            await self._open_ticket(turn, run, step, ctx)
        elif step.action == "tag" and step.tag:
            customers.add_tag(customer, step.tag)
        elif step.action == "untag" and step.tag:
            customers.remove_tag(customer, step.tag)
        elif step.action == "set_attribute" and step.name:
            customers.set_attribute(customer, step.name, _render_value(step.value, ctx))
        elif step.action == "subscribe":
            subscribe(customer)
        elif step.action == "unsubscribe":
            await unsubscribe(turn, keep_run_id=run.id)
        elif step.action == "record_survey":
            about, ticket_id = await self._followed_ticket(turn, run, lf)
            if about and ticket_id is None:
                return  # a ticket's score without a ticket of this customer's: nothing to record
            await surveys.record(
                turn.session, customer_id=customer.id, survey=step.survey or lf.id,
                kind=step.kind or "text", now=turn.now, score=_score(step.score, ctx),
                comment=templating.render(step.comment, ctx) if step.comment else None,
                run_id=run.id, ticket_id=ticket_id,
            )  # fmt: skip
        elif step.action == "start_flow" and step.flow:
            raise FlowHandOff(step.flow)
        elif step.action == "give_reward" and step.pool:
            await self._give_reward(turn, run, lf, step)
        elif step.action == "ticket_feedback":
            _about, ticket_id = await self._followed_ticket(turn, run, lf)
            if ticket_id is not None:
                solved = _truth(templating.render(step.solved, ctx)) if step.solved else None
                outcome = await lifecycle.apply_feedback(
                    turn.session, self.settings.tickets, ticket_id, turn.now, solved=solved,
                    score=_score(step.score, ctx)
                )  # fmt: skip
                run.answers = {**(run.answers or {}), "ticket_outcome": outcome}

    async def _give_reward(self, turn: Turn, run: ConversationRun, lf: LoadedFlow, step: s.ActionStep) -> None:
        """A code of the step's pool for the customer (the same one again if they have it), in `reward` for later
        texts; said with the standard text unless the step is quiet (an empty pool says so, and staff are alerted)."""
        given = await rewards.claim(turn.session, self.settings, step.pool or "", turn.customer.id, turn.now,
                                    reason=f"flow:{lf.id}", given_by=f"flow:{lf.id}")  # fmt: skip
        run.context = {**(run.context or {}), "reward": given.as_context()}
        if not step.quiet or not given.given:
            turn.say(Reply(rewards.customer_text(self.settings, given)))

    async def _followed_ticket(self, turn: Turn, run: ConversationRun, lf: LoadedFlow) -> tuple[bool, int | None]:
        """(is the run about a ticket, that ticket's id if it is a real one of this customer's). A run is about a
        ticket when it carries one or its flow starts on a ticket event (the follow-up after a resolution): such a
        run without a ticket of the customer's own (started by a forged button, say) must record nothing."""
        claimed = (run.context or {}).get("ticket_id")
        ticket = await lifecycle.ticket_of_customer(turn.session, turn.customer.id, claimed)
        about = claimed is not None or any(
            isinstance(t, s.EventTrigger) and t.event in lifecycle.TICKET_EVENTS for t in lf.flow.triggers
        )
        if about and ticket is None:
            log.warning("run %s of flow %s (customer %s) has no ticket of this customer's (%r): records nothing",
                        run.id, lf.id, turn.customer.id, claimed)  # fmt: skip
        return about, ticket.id if ticket is not None else None

    async def _open_ticket(self, turn: Turn, run: ConversationRun, step: s.ActionStep, ctx: dict[str, Any]) -> None:
        """A ticket for what the flow collected, or the customer's open ticket with it added (bot/tickets/intake.py);
        flow texts see which through `ticket.joined` and `ticket.at_limit`."""
        answers = run.answers or {}
        description = templating.render(step.description, ctx) if step.description else _answers_text(answers)
        attachments = []
        if step.attachment and isinstance(answers.get(step.attachment), dict):
            attachments.append(answers[step.attachment])
        complaint = intake.Complaint(
            kind="handoff" if step.action == "handoff" else "complaint",
            category=templating.render(step.category, ctx) if step.category else "general",
            severity=step.severity or "normal",
            summary=templating.render(step.summary, ctx) if step.summary else description[:200],
            description=description, attachments=tuple(attachments), channel=turn.channel,
        )  # fmt: skip
        customer_id, joined = turn.customer.id, (run.context or {}).get("joined_event_id")
        if step.separate:
            taken = await intake.open_separately(turn.session, self.settings, customer_id, complaint, turn.now, joined)
        else:
            taken = await intake.open_or_join(turn.session, self.settings, customer_id, complaint, turn.now)
        view = taken.template_view(await tickets.template_view(turn.session, taken.ticket, self.settings)).as_context()
        run.context = {**(run.context or {}), "ticket": view, "ticket_id": taken.ticket.id,
                       "joined_event_id": taken.joined_event_id}  # fmt: skip
        turn.ticket = view
        for hook in self.complaint_hooks:
            for reply in await hook(turn.session, turn.customer, taken.ticket, turn.now):
                turn.say(reply)


def subscribe(customer: Any) -> None:
    customer.subscribed = True
    customer.opted_out_at = None


async def unsubscribe(turn: Turn, keep_run_id: int | None = None) -> None:
    """Opt-out takes effect at once: pending proactive rows and paused check-ins are cancelled."""
    customer = turn.customer
    customer.subscribed = False
    customer.opted_out_at = turn.now
    await outbox.cancel_proactive(turn.session, customer.id, turn.now)
    query = select(ConversationRun).where(
        ConversationRun.customer_id == customer.id,
        ConversationRun.status.in_((WAITING, SUSPENDED)),
        ConversationRun.id != (keep_run_id or -1),
    )
    for other in (await turn.session.execute(query)).scalars():
        other.status = CANCELLED
        other.ended_at = turn.now


def _say_button(spec: s.ButtonSpec) -> FlowButton | WordButton:
    if spec.flow:
        return FlowButton(spec.flow)
    assert spec.action is not None  # the schema wants exactly one of flow and action
    return WordButton(spec.action)


def _render_value(value: Any, ctx: dict[str, Any]) -> Any:
    return templating.render(value, ctx) if isinstance(value, str) else value


def _score(template: str | None, ctx: dict[str, Any]) -> int | None:
    if not template:
        return None
    text = templating.render(template, ctx).strip()
    try:
        return round(float(text))
    except ValueError:
        return None


def _truth(text: str) -> bool | None:
    value = text.strip().lower()
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    return None


def _answers_text(answers: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in answers.items() if not isinstance(v, dict))


__all__ = ["ACTIVE", "FlowHandOff", "FlowRunner", "subscribe", "unsubscribe"]
