"""Intent matching on the starter flows, and the global words that work anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from rapidfuzz import fuzz, process

from bot.config import GlobalWords as GlobalWordSettings
from bot.conversations.intents import CANDIDATES_FROM, SHORT_QUERY, GlobalWords, IntentIndex
from bot.conversations.registry import FlowRegistry
from bot.conversations.textmatch import fold

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


def test_a_large_index_finds_what_scoring_every_phrase_finds() -> None:
    """From CANDIDATES_FROM phrases on only likely candidates are scored: the answer must not change."""
    verbs = ["cancel", "change", "track", "return", "refund", "pay", "update", "close", "pause", "report"]
    things = ["my order", "the invoice", "my account", "the delivery", "my password", "a parcel", "my card"]
    extras = ["", " today", " again", " online", " by phone", " this week"]
    phrases = [(f"intent_{i % 40}", f"{verb} {thing}{extra} {i}") for i, (verb, thing, extra) in enumerate(
        (v, t, e) for v in verbs for t in things for e in extras)]  # fmt: skip
    assert len(phrases) >= CANDIDATES_FROM
    index = IntentIndex(phrases)
    everything = [fold(phrase) for _name, phrase in phrases]
    messages = [
        "cancel my order",
        "cancelorder",
        "refnd the invoce",
        "trackparcel",
        "pay card asap",
        "I need to update my acount by phone",
        "retrun the delivery 17",
        "where is it",
        "change pasword 9",
    ]
    for text in messages:
        query = fold(text)
        scorer = fuzz.ratio if len(query) <= SHORT_QUERY else fuzz.WRatio
        expected = process.extractOne(query, everything, scorer=scorer, score_cutoff=70)
        found = index.best(text, 70)
        if expected is None:
            assert found is None, text
        else:
            assert found is not None and (found.phrase, found.score) == (phrases[expected[2]][1], expected[1]), text


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
