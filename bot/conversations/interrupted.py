"""The stack of interrupted flows: a flow started over another sets it aside (SUSPENDED); when the new one ends
or waits, the latest one set aside comes back at its question, and older or stale ones are closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select

from bot.config import CheckinSettings
from bot.conversations import checkins
from bot.conversations import schema as s
from bot.conversations.models import ACTIVE, CANCELLED, SUSPENDED, ConversationRun
from bot.conversations.runner import FlowRunner
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn
from bot.conversations.versions import FlowVersions
from bot.storage import plain

# Built once: it runs whenever a flow ends (most often to find nothing).
_SUSPENDED = (
    select(ConversationRun)
    .where(ConversationRun.customer_id == bindparam("customer_id"), ConversationRun.status == SUSPENDED)
    .order_by(ConversationRun.updated_at.desc(), ConversationRun.id.desc())
)


@dataclass
class InterruptedFlows:
    """The customer's SUSPENDED runs: the latest picked up again, the others closed."""

    versions: FlowVersions
    runner: FlowRunner
    speech: Speech
    resume_within: timedelta
    checkin_settings: CheckinSettings

    async def resume_latest(self, turn: Turn) -> None:
        """After an interruption ends, pick the interrupted flow up again at its question."""
        suspended = turn.runs_in(SUSPENDED)
        if suspended is not None:
            suspended.sort(key=lambda run: (run.updated_at, run.id), reverse=True)  # as _SUSPENDED orders them
        else:
            params = {"customer_id": turn.customer.id}
            suspended = await plain.load(turn.session, ConversationRun, _SUSPENDED, params)
        if not suspended:
            return
        # A stack: the latest interrupted flow resumes; older ones wait their turn unless stale.
        latest = None
        for run in suspended:
            # A check-in question has its own give-up time, so it is picked up however long it was set aside.
            fresh = turn.now - run.updated_at <= self.resume_within or checkins.is_proactive(run)
            lf = await self.versions.of_run(turn, run) if fresh else None
            if lf is not None and isinstance(lf.flow.steps[run.step_index], s.AskStep):
                latest = run
                break
            run.finish(turn.now, CANCELLED)
        if latest is None or lf is None:
            return
        latest.status = ACTIVE
        latest.awaiting_answer = True
        latest.attempts = 0
        latest.updated_at = turn.now
        turn.say(self.runner.question(turn, latest, lf, prefix=self.speech.render(self.speech.texts.resuming)))
        step = lf.flow.steps[latest.step_index]
        assert isinstance(step, s.AskStep)
        await checkins.on_question(turn, latest, step, self.checkin_settings, remind=False)

    async def drop_all(self, turn: Turn) -> None:
        """Close every flow set aside ("cancel" means all of it)."""
        query = select(ConversationRun).where(
            ConversationRun.customer_id == turn.customer.id, ConversationRun.status == SUSPENDED
        )
        for run in (await turn.session.execute(query)).scalars():
            run.finish(turn.now, CANCELLED)
