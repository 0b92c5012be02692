"""Route stage: answers to a question the bot gave up on (checkins.py), pressed under it or typed while no other
question is open, are kept on the run without running its later steps again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.conversations import checkins
from bot.conversations.answers import AnswerContext, parse_text_answer
from bot.conversations.models import CANCELLED, ConversationRun
from bot.conversations.runs import FlowRuns, Running
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn

_RECENT_RUNS = 3  # the latest runs looked at for a given-up question


@dataclass
class LateAnswers:
    """Keeps an answer to a question the bot gave up on."""

    runs: FlowRuns
    answer_context: AnswerContext
    speech: Speech

    async def typed(self, turn: Turn, text: str) -> bool:
        """Typed text that answers the latest given-up question (closed questions only: free text
        would swallow whatever the customer writes next), while no other question is open."""
        query = (
            select(ConversationRun)
            .where(ConversationRun.customer_id == turn.customer.id, ConversationRun.status != CANCELLED)
            .order_by(ConversationRun.updated_at.desc(), ConversationRun.id.desc())
            .limit(_RECENT_RUNS)
        )
        for run in (await turn.session.execute(query)).scalars():
            index = checkins.typed_late_step(run, turn.now)
            if index is None:
                continue
            step = await self.runs.versions.asked_step(turn.session, run, index)
            if step is None or step.expect in ("text", "media"):
                return False
            parsed = parse_text_answer(step, text, self.answer_context)
            if not parsed.ok:
                return False
            self.keep(turn, run, index, parsed.value, None)
            return True
        return False

    def keep(self, turn: Turn, run: ConversationRun, index: int, value: Any, active: Running | None) -> None:
        """Keep the answer, thank the customer, and ask the question open now again so it is not lost."""
        checkins.record_late(run, index, value, turn.now)
        turn.say(self.speech.reply(self.speech.texts.late_answer))
        self.runs.reask_if_waiting(turn, active)
