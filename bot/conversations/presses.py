"""Route stage, pressed buttons: acted on only when the bot could have shown that button to this customer (the
payload codec: buttons.py). Anything else gets the polite stale-button notice and one log line."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.conversations import buttons, checkins, offers
from bot.conversations import schema as s
from bot.conversations.answers import Parsed, parse_choice_index
from bot.conversations.late_answers import LateAnswers
from bot.conversations.models import ConversationRun
from bot.conversations.registry import FlowRegistry
from bot.conversations.runs import FlowRuns, Running
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn
from bot.conversations.words import GlobalWordActions
from bot.messages import Reply

log = logging.getLogger(__name__)


@dataclass
class ButtonPresses:
    """Acts on a pressed button the bot showed this customer, and refuses any other."""

    registry: FlowRegistry
    runs: FlowRuns
    late: LateAnswers
    words: GlobalWordActions
    speech: Speech

    async def press(self, turn: Turn, value: str, active: Running | None) -> None:
        """A pressed button. A payload the bot never showed this customer (forged, garbled, out of range, another
        customer's run) is refused with one log line and changes nothing."""
        try:
            pressed = buttons.parse(value)
        except buttons.InvalidButton as exc:
            self._ignore(turn, value, str(exc), forged=True)
            return
        if isinstance(pressed, buttons.AnswerButton):
            await self._answer(turn, value, pressed, active)
        elif isinstance(pressed, buttons.FlowButton):
            await self._flow(turn, value, pressed)
        elif pressed.word != "retry":
            await self.words.act(turn, pressed.word, active)
        elif active is not None and active.run.awaiting_answer:  # "Try again" after the retries ran out
            active.run.attempts = 0
            turn.say(self.runs.runner.question(turn, active.run, active.lf))
        else:
            self._ignore(turn, value, "no question to try again")

    async def _answer(self, turn: Turn, value: str, pressed: buttons.AnswerButton, active: Running | None) -> None:
        """The answer to the open question, or a late answer to one the bot gave up on; otherwise stale."""
        own = active is not None and active.run.id == pressed.run_id
        run = active.run if active is not None and own else await turn.session.get(ConversationRun, pressed.run_id)
        if run is None or run.customer_id != turn.customer.id:
            self._ignore(turn, value, "not a run of this customer", forged=True)
            return
        step = await self.runs.versions.asked_step(turn.session, run, pressed.step_index)
        if step is None or not (parsed := self._option(step, pressed)).ok:
            self._ignore(turn, value, "no such question or option in the run's flow", forged=True)
            return
        asking_now = run.step_index == pressed.step_index
        if active is not None and own and run.awaiting_answer and asking_now:
            await self.runs.take_answer(turn, active, parsed)
        elif checkins.timed_out(run, pressed.step_index):
            self.late.keep(turn, run, pressed.step_index, parsed.value, active)
        elif asking_now or checkins.answer_key(step, pressed.step_index) in (run.answers or {}):
            # Pressed twice, or under a question that was answered, given up or left (its run was set aside or
            # cancelled while asking it): an ordinary stale button.
            self._ignore(turn, value, "the question is no longer open")
        else:
            self._ignore(turn, value, "a question this run has not asked", forged=True)

    async def _flow(self, turn: Turn, value: str, pressed: buttons.FlowButton) -> None:
        """Start the flow if the customer may start it themselves or the bot offered them this button: a forged
        `f:` must not start an internal flow (a ticket follow-up without a ticket, someone else's campaign)."""
        lf = self.registry.current(pressed.flow_id)
        if lf is None:
            self._ignore(turn, value, "no such flow in force", forged=True)
        elif offers.customer_may_start(lf.flow) or await offers.was_offered(turn.session, turn.customer.id, pressed):
            await self.runs.start(turn, lf.id, {"trigger": "button"})
        else:
            self._ignore(turn, value, "a flow this customer was never offered", forged=True)

    def _option(self, step: s.AskStep, pressed: buttons.AnswerButton) -> Parsed:
        if pressed.option is not None:
            return parse_choice_index(step, pressed.option)
        if step.optional:
            return Parsed(ok=True, value=None, display=self.speech.texts.skip)
        return Parsed(ok=False, error="bad_button")

    def _ignore(self, turn: Turn, value: str, reason: str, *, forged: bool = False) -> None:
        """One log line, and the polite notice of a stale button, whatever the reason: a real customer pressing an
        old button learns what happened, and a forger cannot tell another customer's run from a missing one."""
        level = logging.WARNING if forged else logging.INFO
        log.log(level, "button ignored for customer %s (%s): %r", turn.customer.id, reason, value[:80])
        turn.say(Reply(self.speech.render(self.speech.texts.stale_button), stale=True))
