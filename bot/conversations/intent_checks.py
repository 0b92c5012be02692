"""Warnings for `engagebot flows check` about intent phrases that will not do what their author expects: a phrase
closer to another flow's examples (or to small talk) than to its own flow's, a phrase that is a global word (the
word wins), and a phrase that is also the label of a choice (typed while that question is open, it answers it).
Warnings never make valid flows invalid."""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz import fuzz, utils

from bot.config import ConversationSettings, IntentSettings
from bot.conversations import schema as s
from bot.conversations.loader import LoadedFlow
from bot.conversations.understanding import NONE, OTHER, Understanding, build_understanding
from bot.yamlsource import Problem, parse_yaml

SAME_LABEL = 90  # rapidfuzz ratio (case and punctuation folded) from which a phrase reads as a choice's label


def intent_warnings(
    flows: Iterable[LoadedFlow], conversation: ConversationSettings, intents: IntentSettings
) -> list[Problem]:
    loaded = sorted(flows, key=lambda lf: lf.path)
    understanding = build_understanding(conversation, intents, loaded)
    labels = _choice_labels(loaded)
    warnings: list[Problem] = []
    for lf in loaded:
        doc = None
        for t_index, trigger in enumerate(lf.flow.triggers):
            if not isinstance(trigger, s.IntentTrigger):
                continue
            for p_index, phrase in enumerate(trigger.intent):
                for message in _phrase_warnings(lf.id, phrase, understanding, labels):
                    doc = doc or parse_yaml(lf.source, lf.path)
                    problem = doc.problem(("triggers", t_index, "intent", p_index), f"warning: {message}")
                    warnings.append(problem)
    return warnings


def _phrase_warnings(flow_id: str, phrase: str, understanding: Understanding, labels: dict[str, str]) -> list[str]:
    out: list[str] = []
    word = understanding.global_words.match(phrase)
    if word:
        out.append(f'intent phrase "{phrase}" is the global word "{word}", which wins: it never starts {flow_id}')
    ranked = understanding.matcher.rank(phrase, leave_out=(flow_id, phrase))
    own = next((m.score for m in ranked if m.name == flow_id), 0.0)
    # Only when another flow (or a global word) would win: a phrase whose words no other example has is no clash.
    # Small talk and the questions no flow answers sharing a topic word ("the address on the parcel was wrong",
    # "what's your address") are not: the classifier, which decides, learns the phrase itself as this flow's.
    if (
        ranked
        and ranked[0].name not in (flow_id, NONE, OTHER)
        and ranked[0].score > own
        and ranked[0].score >= understanding.settings.threshold
    ):
        other = ranked[0]
        whose = {NONE: "small talk", OTHER: "the questions no flow answers"}.get(other.name, other.name)
        out.append(
            f'intent phrase "{phrase}" of {flow_id} is closer to {whose}\'s "{other.phrase}" ({other.score:g}) than to'
            f" {flow_id}'s other phrases ({own:g})"
        )
    clean = utils.default_process(phrase)
    for label, where in labels.items():
        if fuzz.ratio(clean, label) >= SAME_LABEL:
            out.append(f'intent phrase "{phrase}" is also the choice "{label}" of {where}: typed there, it answers it')
    return out


def _choice_labels(flows: list[LoadedFlow]) -> dict[str, str]:
    """Every choice label (folded) and where it is asked ("flow step")."""
    labels: dict[str, str] = {}
    for lf in flows:
        for index, step in enumerate(lf.flow.steps):
            if isinstance(step, s.AskStep):
                for choice in step.choices:
                    labels.setdefault(utils.default_process(choice.label), f"{lf.id} step {step.id or index + 1}")
    return labels
