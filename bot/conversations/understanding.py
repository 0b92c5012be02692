"""What a customer's free text means: one verdict, used by the route stage and by `engagebot intents`.

    global  a word that works anywhere ("stop", "human"), typed alone or said in a sentence ("let me talk to
            someone"): `result` is the word
    intent  a flow to start: `result` is its id
    ask     two intents are close: `candidates` are the ones to offer ("report a problem or cancel?")
    none    nothing to start; `small_talk` when it reads like "hi", "thanks", "ok" or an emoji (not when it is
            closest to a question no flow answers, or to nothing at all)

Order: a whole message that is a global word; a command; then the matcher over the flows' examples, the global
words' phrasings, the small talk and the questions no flow answers, whose best and second best decide between
intent, ask and none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.config import ConversationSettings, IntentSettings
from bot.conversations import schema as s
from bot.conversations.cues import asks
from bot.conversations.intents import GlobalWords, IntentMatch
from bot.conversations.loader import LoadedFlow
from bot.conversations.matcher import IntentMatcher
from bot.conversations.wording import words

Kind = Literal["global", "intent", "ask", "none"]
NONE = "none"  # the label of small talk among the matcher's intents
OTHER = "other"  # ... and of questions no flow answers
NOTHING = frozenset({NONE, OTHER})
# Global words a sentence may mean; "cancel" (stop the current conversation) only counts typed alone, as
# "cancel my plan" is the cancellation flow. Of those, the ones that may interrupt a question in progress.
PHRASED_WORDS = ("human", "menu", "stop", "resubscribe")
INTERRUPTING_WORDS = frozenset({"human", "stop"})
BUTTON_WORDS = frozenset({"human", "menu"})  # global words a button can carry (buttons.WordButton)


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: Kind
    result: str | None = None
    candidates: tuple[IntentMatch, ...] = ()
    small_talk: bool = False

    @property
    def score(self) -> float:
        return self.candidates[0].score if self.candidates else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "kind": self.kind,
            "small_talk": self.small_talk,
            "candidates": [{"name": m.name, "phrase": m.phrase, "score": m.score} for m in self.candidates],
        }


@dataclass
class Understanding:
    """Built once per set of flows in force (and the settings); `understand` is a pure function of the text."""

    settings: IntentSettings
    global_words: GlobalWords
    commands: dict[str, str]
    matcher: IntentMatcher
    interrupting: frozenset[str]  # flows (and global words) that may interrupt a question in progress
    urgent: frozenset[str]  # of those, what interrupts even a free-text question: a person, stop
    titles: dict[str, str] = field(default_factory=dict)  # of the flows in force, for the "ask" buttons

    def understand(self, text: str, *, waiting: bool = False, free_text: bool = False, limit: int = 5) -> Verdict:
        """The verdict on `text`. `waiting`: a question is open, so only what may interrupt it, scoring at
        least the interrupt threshold, is anything but none. `free_text`: the open question takes any text
        ("what went wrong?"), where describing a problem is the answer: only a person or stop interrupts it."""
        word = self.global_words.match(text)
        if word:
            return Verdict("global", word, (IntentMatch(word, text.strip(), 100.0),))
        stripped = text.strip()
        if stripped.startswith("/"):
            command = stripped.split()[0].split("@")[0].lower()
            flow_id = self.commands.get(command)
            if flow_id is None:
                return Verdict("none")
            return Verdict("intent", flow_id, (IntentMatch(flow_id, command, 100.0),))
        if not words(text):  # emoji, punctuation: small talk
            return Verdict("none", small_talk=True)
        ranked = self.matcher.rank(text)
        if not asks(text):
            # The questions no flow answers are questions: "staff at the store were rude" is not "where are your
            # stores" (their topic words alone would otherwise take statements from the flows).
            ranked = [m for m in ranked if m.name != OTHER]
        if waiting:
            allowed = self.urgent if free_text else self.interrupting
            ranked = [m for m in ranked if m.name in allowed]
            threshold = self.settings.interrupt_threshold
        else:
            threshold = self.settings.threshold
        shown = tuple(ranked[:limit])
        if not ranked or ranked[0].score < threshold:
            return Verdict("none", candidates=shown)
        best = ranked[0]
        if best.name in NOTHING:
            return Verdict("none", candidates=shown, small_talk=best.name == NONE)
        close = [m for m in ranked[1:] if m.name not in NOTHING and best.score - m.score < self.settings.ask_margin]
        if close and self.can_offer(best.name) and self.can_offer(close[0].name):
            pair = (best, close[0])
            return Verdict("ask", None, (*pair, *(m for m in shown if m not in pair)))
        kind: Kind = "global" if best.name in PHRASED_WORDS else "intent"
        return Verdict(kind, best.name, shown)

    def can_offer(self, name: str) -> bool:
        """Can a button start it (a flow, a person, the menu), so the customer can be asked?"""
        return name in self.titles or name in BUTTON_WORDS

    def title(self, name: str) -> str:
        return self.titles.get(name, name)


def build_understanding(
    conversation: ConversationSettings, intents: IntentSettings, flows: Iterable[LoadedFlow]
) -> Understanding:
    """The verdict's machinery over the flows in force: their commands, intents and menu labels, the global words
    and their phrasings, and the small talk."""
    examples: list[tuple[str, str]] = []
    commands: dict[str, str] = {}
    interrupting = set(INTERRUPTING_WORDS)
    titles: dict[str, str] = {}
    for lf in sorted(flows, key=lambda lf: lf.path):
        titles[lf.id] = lf.flow.title or lf.id
        if lf.flow.interrupts:
            interrupting.add(lf.id)
        for trigger in lf.flow.triggers:
            if isinstance(trigger, s.CommandTrigger):
                commands[trigger.command] = lf.id
            elif isinstance(trigger, s.MenuTrigger):
                examples.append((lf.id, trigger.menu))
            elif isinstance(trigger, s.IntentTrigger):
                examples += [(lf.id, phrase) for phrase in trigger.intent]
    # The flows the stop and human words start interrupt like the words do.
    urgent = INTERRUPTING_WORDS | {flow for flow in (conversation.stop_flow, conversation.human_flow) if flow}
    interrupting |= urgent
    global_words = conversation.global_words.model_dump()
    for word in PHRASED_WORDS:
        # The words themselves ("agent", "unsubscribe") teach the matcher too, but a flow the word starts is
        # where its phrasings live (stop -> opt_out); the word's own label then is the flow's.
        label = word
        if word == "stop" and conversation.stop_flow:
            label = conversation.stop_flow
        elif word == "human" and conversation.human_flow:
            label = conversation.human_flow
        variants = [v for v in global_words.get(word, ()) if not v.startswith("/")]
        examples += [(label, phrase) for phrase in (*variants, *intents.phrases.get(word, ()))]
    examples += [(NONE, phrase) for phrase in intents.small_talk]
    examples += [(OTHER, phrase) for phrase in intents.other_questions]
    return Understanding(
        settings=intents, global_words=GlobalWords(global_words), commands=commands,
        matcher=IntentMatcher(examples, background=NONE), interrupting=frozenset(interrupting), urgent=urgent,
        titles=titles,
    )  # fmt: skip
