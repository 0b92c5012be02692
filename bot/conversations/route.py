"""The route stage: what one message is, in this order. A pressed button; a photo; a global word; a command; a
short answer to the open question; what may interrupt it (a complaint, a person, stop: understanding.py); the
answer to the open question; a late answer; what the text means (an intent, a global word said in a sentence, or
two close ones to ask about); else it goes to the customer's open ticket, small talk gets a friendly word, and
anything else the menu (and is recorded as unmatched for `engagebot intents unmatched`).

A customer with an open ticket who writes about a problem ("any news about my parcel?", "it still hasn't
arrived": the complaint flow's intent, or any flow that opens a ticket) is writing about that ticket: the words go
to it, where it would interrupt a question or start that flow (which would only join the ticket, three questions
later). A new problem still has its way in: /complain, the menu's "Report a problem", and "It's a different
problem" after a complaint joined the ticket."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.config import ConversationSettings, IntentSettings
from bot.conversations import buttons, unmatched
from bot.conversations import schema as s
from bot.conversations.answers import AnswerContext, Parsed, parse_media_answer, parse_text_answer
from bot.conversations.handoff import Handoff
from bot.conversations.late_answers import LateAnswers
from bot.conversations.presses import ButtonPresses
from bot.conversations.registry import FlowRegistry
from bot.conversations.runs import FlowRuns, Running
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn
from bot.conversations.understanding import Understanding, Verdict, build_understanding
from bot.conversations.wording import load_english_words
from bot.conversations.words import GlobalWordActions
from bot.messages import Button, Inbound, Media, Reply
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
    _understanding: tuple[int, Understanding] | None = field(default=None, init=False)

    @property
    def understanding(self) -> Understanding:
        """Rebuilt when the flows in force change (a hot reload), else reused."""
        generation = self.registry.generation
        if self._understanding is None or self._understanding[0] != generation:
            built = build_understanding(self.settings, self.intents, self.registry.all())
            self._understanding = (generation, built)
        return self._understanding[1]

    def warm(self) -> None:
        """The understanding built and the matcher's word list read (see ConversationEngine.warm)."""
        _ = self.understanding  # built for the flows in force, then reused
        load_english_words()

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
        understanding = self.understanding
        word = understanding.global_words.match(text)
        if word:
            await self.words.act(turn, word, active)
            return
        if text.startswith("/"):
            await self._command(turn, text, active, only_interrupts)
            return
        waiting = active is not None and active.run.awaiting_answer
        fits = self._closed_answer(active, text) if waiting and not only_interrupts else None
        if fits is not None and len(text.split()) <= _SHORT_ANSWER_WORDS:
            # "For my work" answers the question even though it resembles "not working".
            await self.runs.take_answer(turn, active, fits)  # type: ignore[arg-type]
            return
        if active is not None or only_interrupts:
            verdict = understanding.understand(text, waiting=True, free_text=waiting and self._takes_text(active))
            # A longer answer that fits the question ("no, I still can't find the invoices page") wins unless it
            # is unmistakably something else.
            clear = fits is None or verdict.score >= self.intents.interrupt_answer_threshold
            if verdict.kind != "none" and clear and (active is None or verdict.result != active.lf.id):
                if not only_interrupts and await self._for_open_ticket(turn, text, verdict):
                    return  # the open question stays open, not asked again over the customer's words
                await self._act(turn, text, verdict, active)
                return
        if only_interrupts:
            return
        if waiting:
            await self._answer(turn, active, text)  # type: ignore[arg-type]
            return
        if await self.late.typed(turn, text):
            return
        verdict = understanding.understand(text)
        if verdict.kind != "none":
            if not await self._for_open_ticket(turn, text, verdict):
                await self._act(turn, text, verdict, active)
            return
        if await self.handoff.relay_to_open_ticket(turn, text):
            return
        if verdict.small_talk:
            turn.say(self.speech.menu(texts.small_talk))
            return
        await unmatched.record(turn.session, turn.customer.id, turn.channel, text, turn.now)
        turn.say(self.speech.menu(texts.fallback))

    def starts(self, text: str) -> tuple[str, str] | None:
        """What `text` starts when no flow is waiting, as `route` decides it: ("global", word), ("command", flow),
        ("intent", flow) or ("ask", the likelier flow); None when it would get small talk or the menu.
        first_contact.py acts on a new customer's first words with it."""
        understanding = self.understanding
        word = understanding.global_words.match(text)
        if word:
            return "global", word
        if text.startswith("/"):
            flow_id = self.registry.indexes.commands.get(text.split()[0].split("@")[0].lower())
            return ("command", flow_id) if flow_id else None
        verdict = understanding.understand(text)
        if verdict.kind in ("global", "intent") and verdict.result:
            return verdict.kind, verdict.result
        if verdict.kind == "ask" and verdict.candidates:
            return "ask", verdict.candidates[0].name
        return None

    async def _act(self, turn: Turn, text: str, verdict: Verdict, active: Running | None) -> None:
        """Start the flow, do what the global word does, or ask which of two the customer means."""
        if verdict.kind == "global" and verdict.result:
            await self.words.act(turn, verdict.result, active)
        elif verdict.kind == "intent" and verdict.result:
            data = {"trigger": "intent", "text": text[:_INTENT_TEXT_SIZE]}
            await self.runs.start(turn, verdict.result, data, active=active)
        elif verdict.kind == "ask":
            turn.say(self._which_one(verdict))

    async def _for_open_ticket(self, turn: Turn, text: str, verdict: Verdict) -> bool:
        """Words about a problem, from a customer with an open ticket, added to that ticket (see the module
        docstring); False when they mean something else or there is no open ticket."""
        if verdict.kind != "intent" or not verdict.result or not self._opens_tickets(verdict.result):
            return False
        return await self.handoff.relay_to_open_ticket(turn, text)

    def _opens_tickets(self, flow_id: str) -> bool:
        """Does the flow take a problem to a ticket (an open_ticket step)? Such a flow adds what it collects to the
        customer's open ticket anyway (bot/tickets/intake.py)."""
        lf = self.registry.current(flow_id)
        return lf is not None and any(
            isinstance(step, s.ActionStep) and step.action == "open_ticket" for step in lf.flow.steps
        )

    def _which_one(self, verdict: Verdict) -> Reply:
        """ "Do you want to report a problem or stop messages?", a button for each: a press starts that one."""
        options = verdict.candidates[:2]
        labels = [self._label(m.name) for m in options]
        choices = " or ".join(label[:1].lower() + label[1:] for label in labels)
        shown = []
        for match, label in zip(options, labels, strict=True):
            if match.name in buttons.GLOBAL_WORDS:
                value = buttons.WordButton(match.name).value  # type: ignore[arg-type]
            else:
                value = buttons.FlowButton(match.name).value
            shown.append(Button(label, value))
        return Reply(self.speech.render(self.speech.texts.ask_which, choices=choices), tuple(shown))

    @staticmethod
    def _takes_text(active: Running | None) -> bool:
        return active is not None and isinstance(active.step, s.AskStep) and active.step.expect == "text"

    def _label(self, name: str) -> str:
        return self.speech.texts.talk_to_human if name == "human" else self.understanding.title(name)

    def _closed_answer(self, active: Running | None, text: str) -> Parsed | None:
        """The text read as a valid answer to the open closed question (a choice, yes/no, a number...), if it is
        one; None for a free-text or media question, or an answer that does not fit."""
        step = active.step if active is not None else None
        if not isinstance(step, s.AskStep) or step.expect in ("text", "media"):
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
        await self.runs.start(turn, flow_id, {"trigger": "command", "command": command}, active=active)
