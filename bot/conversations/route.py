"""The route stage: what one message is, in this order. A pressed button; a photo; a global word; a command; a
short answer to the open question; an interrupting intent; the answer to the open question; a late answer; an
intent; else it goes to the customer's open ticket, or the menu."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import ConversationSettings, IntentSettings
from bot.conversations import schema as s
from bot.conversations.answers import AnswerContext, Parsed, parse_media_answer, parse_text_answer
from bot.conversations.handoff import Handoff
from bot.conversations.intents import GlobalWords
from bot.conversations.late_answers import LateAnswers
from bot.conversations.presses import ButtonPresses
from bot.conversations.registry import FlowRegistry
from bot.conversations.runs import FlowRuns, Running
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn
from bot.conversations.words import GlobalWordActions
from bot.messages import Inbound, Media
from bot.tickets import records as tickets

_SHORT_ANSWER_WORDS = 4  # longer than this, a message to a closed question may be about something else
_INTENT_TEXT_SIZE = 500  # of the text kept with a flow an intent started


@dataclass
class Router:
    """Sends one message to what acts on it (see the module docstring for the order)."""

    settings: ConversationSettings
    intents: IntentSettings
    registry: FlowRegistry
    runs: FlowRuns
    presses: ButtonPresses
    words: GlobalWordActions
    late: LateAnswers
    handoff: Handoff
    speech: Speech
    answer_context: AnswerContext
    global_words: GlobalWords = field(init=False)

    def __post_init__(self) -> None:
        self.global_words = GlobalWords(self.settings.global_words.model_dump())

    async def route(self, turn: Turn, inbound: Inbound, *, only_interrupts: bool = False) -> None:
        """Act on the message. `only_interrupts`: a flow has just started for a new customer, so only what may
        interrupt it (a command, a global word, an interrupting intent) is acted on."""
        active = await self.runs.active(turn)
        if inbound.choice:
            await self.presses.press(turn, inbound.choice, active)
            return
        text = (inbound.text or "").strip()
        if inbound.media is not None and (not text or await self._media_is_wanted(turn, active)):
            # A caption does not make a photo a text message when a photo is what we wait for.
            await self._media(turn, inbound.media, active)
            return
        limit, texts = self.settings.max_text_length, self.speech.texts
        if len(text) > limit:
            turn.say(self.speech.reply(texts.too_long, length=len(text), limit=limit))
            self.runs.reask_if_waiting(turn, active)
            return
        if not text:
            if not only_interrupts:
                turn.say(self.speech.reply(texts.empty))
                self.runs.reask_if_waiting(turn, active)
            return
        word = self.global_words.match(text)
        if word:
            await self.words.act(turn, word, active)
            return
        if text.startswith("/"):
            await self._command(turn, text, active, only_interrupts)
            return
        if active is not None and active.run.awaiting_answer and not only_interrupts:
            parsed = self._short_closed_answer(active, text)
            if parsed is not None:
                # "For my work" answers the question even though it resembles "not working".
                await self.runs.take_answer(turn, active, parsed)
                return
        indexes = self.registry.indexes
        hit = indexes.interrupts.best(text, self.intents.interrupt_threshold)
        if hit and (active is None or hit.name != active.lf.id):
            await self.runs.start(turn, hit.name, {"trigger": "intent", "text": text[:_INTENT_TEXT_SIZE]})
            return
        if only_interrupts:
            return
        if active is not None and active.run.awaiting_answer:
            await self._answer(turn, active, text)
            return
        if await self.late.typed(turn, text):
            return
        hit = indexes.intents.best(text, self.intents.threshold)
        if hit:
            await self.runs.start(turn, hit.name, {"trigger": "intent", "text": text[:_INTENT_TEXT_SIZE]})
            return
        if not await self.handoff.relay_to_open_ticket(turn, text):
            turn.say(self.speech.menu(texts.fallback))

    def starts(self, text: str) -> tuple[str, str] | None:
        """What `text` starts when no flow is waiting, as `route` decides it: ("global", word), ("command", flow)
        or ("intent", flow); None when it would get the menu. first_contact.py acts on a new customer's first words
        with it. (A hook for first_contact: when the matcher gives one verdict, this returns that verdict.)"""
        word = self.global_words.match(text)
        if word:
            return "global", word
        if text.startswith("/"):
            flow_id = self.registry.indexes.commands.get(text.split()[0].split("@")[0].lower())
            return ("command", flow_id) if flow_id else None
        hit = self.registry.indexes.intents.best(text, self.intents.threshold)
        return ("intent", hit.name) if hit else None

    def _short_closed_answer(self, active: Running, text: str) -> Parsed | None:
        """A short valid answer to a closed question (a choice, yes/no, a number...) is taken as the
        answer before interrupting intents are checked; free text and longer sentences are not."""
        step = active.step
        if not isinstance(step, s.AskStep) or step.expect in ("text", "media"):
            return None
        if len(text.split()) > _SHORT_ANSWER_WORDS:
            return None
        parsed = parse_text_answer(step, text, self.answer_context)
        return parsed if parsed.ok else None

    async def _media_is_wanted(self, turn: Turn, active: Running | None) -> bool:
        if active is not None and active.run.awaiting_answer:
            step = active.step
            if isinstance(step, s.AskStep) and step.expect == "media":
                return True
        return await tickets.latest_open_for_customer(turn.session, turn.customer.id) is not None

    async def _answer(self, turn: Turn, active: Running, text: str) -> None:
        step = active.step
        assert isinstance(step, s.AskStep)
        parsed = parse_text_answer(step, text, self.answer_context)
        if not parsed.ok and step.expect != "text" and await self.handoff.relay_to_open_ticket(turn, text):
            return  # not an answer, and a person is following their ticket: it is for them
        await self.runs.take_answer(turn, active, parsed)

    async def _media(self, turn: Turn, media: Media, active: Running | None) -> None:
        if active is not None and active.run.awaiting_answer:
            step = active.step
            assert isinstance(step, s.AskStep)
            if step.expect == "media":
                await self.runs.take_answer(turn, active, parse_media_answer(step, media.kind, media.ref))
                return
        if await self.handoff.attach_to_open_ticket(turn, media):
            return
        turn.say(self.speech.reply(self.speech.texts.unsupported_media))
        self.runs.reask_if_waiting(turn, active)

    async def _command(self, turn: Turn, text: str, active: Running | None, only_interrupts: bool) -> None:
        command = text.split()[0].split("@")[0].lower()
        flow_id = self.registry.indexes.commands.get(command)
        if flow_id is None:
            turn.say(self.speech.menu(self.speech.texts.unknown_command, command=command[:40]))
            return
        if only_interrupts and active is not None and active.lf.id == flow_id:
            return  # e.g. the first /start already began onboarding through first_contact
        await self.runs.start(turn, flow_id, {"trigger": "command", "command": command})
