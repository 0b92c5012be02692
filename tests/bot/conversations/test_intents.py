"""Intent matching on the starter flows, and the global words that work anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import GlobalWords as GlobalWordSettings
from bot.conversations.intents import GlobalWords, IntentIndex
from bot.conversations.registry import FlowRegistry

FLOWS = Path(__file__).resolve().parents[3] / "flows"


@pytest.fixture(scope="module")
def registry() -> FlowRegistry:
    registry = FlowRegistry(FLOWS)
    assert registry.load() == []
    return registry


@pytest.mark.parametrize(
    ("text", "flow"),
    [
        ("I want to complain", "complaint"),
        ("my order is late", "complaint"),
        ("I want a refund", "complaint"),
        ("terrible service", "complaint"),
        ("this is not working", "complaint"),
        ("my order hasnt arrived yet", "complaint"),
        ("refund", "complaint"),
        ("cancel my subscription", "cancellation"),
        ("I want to cancel", "cancellation"),
        ("close my account", "cancellation"),
        ("how do I cancel my plan", "cancellation"),
        ("I want to give feedback", "nps"),
        ("any tips?", "value_tips"),
        ("Report a problem", "complaint"),  # menu labels are phrases too
        ("Tips & tricks", "value_tips"),
    ],
)
def test_customer_phrasings_reach_the_right_flow(registry: FlowRegistry, text: str, flow: str) -> None:
    match = registry.indexes.intents.best(text, 82)
    assert match is not None and match.name == flow, registry.indexes.intents.explain(text)


@pytest.mark.parametrize(
    "text",
    ["I love it", "how are you", "not sure", "it's fine", "thank you", "thanks!", "good morning", "ok", "cool"],
)
def test_small_talk_starts_no_flow(registry: FlowRegistry, text: str) -> None:
    """Shared filler words ("I", "my") or letters inside a word ("ok" in "broken") are no match."""
    assert registry.indexes.intents.best(text, 82) is None, registry.indexes.intents.explain(text)


def test_explain_lists_one_candidate_per_flow_best_first(registry: FlowRegistry) -> None:
    found = registry.indexes.intents.explain("I want to complain about my order", limit=3)
    assert found[0].name == "complaint"
    assert len({m.name for m in found}) == len(found)
    assert found == sorted(found, key=lambda m: -m.score)


def test_an_index_of_no_phrases_matches_nothing() -> None:
    assert IntentIndex([]).best("anything", 0) is None


WORDS = GlobalWords(GlobalWordSettings().model_dump())


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("stop", "stop"),
        ("STOP!", "stop"),
        ("stpo", "stop"),
        ("/stop", "stop"),
        ("unsubscibe", "stop"),
        ("help", "menu"),
        ("hlep", "menu"),
        ("Menu", "menu"),
        ("cancel", "cancel"),
        ("talk to a humna", "human"),
        ("subscribe", "resubscribe"),
        ("I can't stop smiling", None),
        ("cancel my subscription", None),
        ("hi", None),
        ("", None),
        ("🙂", None),
    ],
)
def test_global_words_match_whole_messages_with_a_typo(text: str, word: str | None) -> None:
    assert WORDS.match(text) == word
