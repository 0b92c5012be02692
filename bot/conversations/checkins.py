"""Proactive questions that never get stuck: reminders, giving up, and answers that come late.

A question that went out without the customer writing first (after a `wait`; a flow started by an
event, a deferred start or a campaign) is asked again up to `reminders` times; after
`give_up_after` the run goes on without the answer, so later check-ins still come. The other
questions of such a run (follow-ups asked in reply to the customer) are given up too, but not
reminded: the customer was chatting when they were asked. Each REMIND_RUN row checks, when due,
that the run still waits for the very question it was queued for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.config import CheckinSettings
from bot.conversations import schema as s
from bot.conversations.kinds import ConversationKind
from bot.conversations.models import ACTIVE, SUSPENDED, ConversationRun
from bot.conversations.turn import Turn
from bot.outbox.models import CANCELLED, PENDING, OutboxItem

REMIND = "remind"
GIVE_UP = "give_up"


@dataclass(frozen=True)
class Timing:
    remind_after: timedelta
    reminders: int
    give_up_after: timedelta

    def reminder_times(self, asked: datetime) -> list[datetime]:
        """When to remind; never at or after giving up."""
        times = (asked + self.remind_after * n for n in range(1, self.reminders + 1))
        return [t for t in times if t < asked + self.give_up_after]


def timing(step: s.AskStep, cfg: CheckinSettings) -> Timing:
    """The step's own remind_after / reminders / give_up_after, else outreach.checkins."""
    return Timing(
        remind_after=step.remind_delay or timedelta(hours=cfg.remind_after_hours),
        reminders=step.reminders if step.reminders is not None else cfg.max_reminders,
        give_up_after=step.give_up_delay or timedelta(hours=cfg.give_up_after_hours),
    )


def answer_key(step: s.AskStep, index: int) -> str:
    """The name a question's answer is kept under in run.answers."""
    return step.save or step.id or f"step{index + 1}"


async def on_question(
    turn: Turn, run: ConversationRun, step: s.AskStep, cfg: CheckinSettings, *, remind: bool = True
) -> None:
    """The run now waits for an answer: in a proactive run, queue the reminders and the give-up.

    `remind=False` for a question asked again when its run is picked up after an interruption: being
    asked again is reminder enough, and the give-up time starts afresh."""
    context = dict(run.context or {})
    if not (turn.proactive or is_proactive(run)):
        return  # the customer started this conversation and is chatting: nothing to chase
    await cancel(turn.session, run.id, turn.now)  # rows of this run's previous question are void
    asked = turn.now.isoformat()
    context.update(proactive=True, asked={"step": run.step_index, "at": asked})
    context.pop("late_typed", None)  # from now on, what the customer types answers this question
    run.context = context
    t = timing(step, cfg)
    reminders = t.reminder_times(turn.now) if turn.proactive and remind else []
    dues = [*reminders, turn.now + t.give_up_after]
    for n, due in enumerate(dues, 1):
        action = REMIND if n < len(dues) else GIVE_UP
        # A reminder carried out late (after an outage) is dropped once the next row is due too.
        until = dues[n].isoformat() if n < len(dues) else None
        await outbox.enqueue(
            turn.session, kind=ConversationKind.REMIND_RUN, due_at=due, customer_id=turn.customer.id, proactive=True,
            dedupe_key=f"remind:{run.id}:{run.step_index}:{n if action == REMIND else GIVE_UP}:{asked}",
            payload={"run_id": run.id, "step_index": run.step_index, "asked": asked, "action": action,
                     "n": n if action == REMIND else 0, "until": until},
        )  # fmt: skip


def is_proactive(run: ConversationRun) -> bool:
    """Did this run ever ask something unprompted? Then each of its questions has a give-up time."""
    return bool((run.context or {}).get("proactive"))


async def settle(turn: Turn, run: ConversationRun) -> None:
    """The question was answered: its pending reminders and give-up will not be needed."""
    if is_proactive(run):
        await cancel(turn.session, run.id, turn.now)


async def cancel(session: AsyncSession, run_id: int, now: datetime) -> None:
    # Cancelled rather than left to find nothing to do: the delivery policy counts what it lets through.
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.kind == ConversationKind.REMIND_RUN, OutboxItem.status == PENDING,
               OutboxItem.dedupe_key.startswith(f"remind:{run_id}:", autoescape=True))
        .values(status=CANCELLED, finished_at=now, last_error="the question was answered or left")
        .execution_options(synchronize_session=False)
    )  # fmt: skip


def still_asking(run: ConversationRun, payload: dict[str, Any]) -> bool:
    """Is the run still waiting for the answer to the question this row was queued for? (It may be
    set aside, SUSPENDED, while the customer is in another flow.)"""
    asked = (run.context or {}).get("asked") or {}
    return (
        run.status in (ACTIVE, SUSPENDED)
        and run.awaiting_answer
        and run.step_index == payload.get("step_index")
        and asked.get("at") == payload.get("asked")
    )


def overtaken(payload: dict[str, Any], now: datetime) -> bool:
    """A reminder whose next reminder or give-up is already due: sending it now would only crowd them."""
    until = payload.get("until")
    return until is not None and now >= datetime.fromisoformat(until)


def give_up(run: ConversationRun, step: s.AskStep, now: datetime, cfg: CheckinSettings) -> None:
    """Record the question as unanswered (its answer is none) and remember it for a late answer."""
    key = answer_key(step, run.step_index)
    run.answers = {**(run.answers or {}), key: None}
    context = dict(run.context or {})
    context["timed_out"] = {**(context.get("timed_out") or {}), str(run.step_index): key}
    # Typed text is read as a late answer for a while, until the run asks something else.
    until = now + timing(step, cfg).give_up_after
    context["late_typed"] = {"step": run.step_index, "until": until.isoformat()}
    run.context = context
    run.awaiting_answer = False


def timed_out(run: ConversationRun, step_index: int) -> bool:
    """Was this question given up, and not answered late since?"""
    return str(step_index) in ((run.context or {}).get("timed_out") or {})


def typed_late_step(run: ConversationRun, now: datetime) -> int | None:
    """The given-up question that typed text may still answer, if any."""
    late = (run.context or {}).get("late_typed")
    if not late or datetime.fromisoformat(late["until"]) < now or not timed_out(run, int(late["step"])):
        return None
    return int(late["step"])


def record_late(run: ConversationRun, step_index: int, value: Any, now: datetime) -> None:
    """Keep a late answer on the run; the steps that came after the question are not run again."""
    context = dict(run.context or {})
    pending = dict(context.get("timed_out") or {})
    key = pending.pop(str(step_index))
    context["timed_out"] = pending
    context["answered_late"] = {**(context.get("answered_late") or {}), key: now.isoformat()}
    if (context.get("late_typed") or {}).get("step") == step_index:
        context.pop("late_typed")
    run.context = context
    run.answers = {**(run.answers or {}), key: value}
