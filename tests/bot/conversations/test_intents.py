"""What free text means (the verdict) on the starter flows, and the global words that work anywhere."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.config import ConversationSettings, IntentSettings
from bot.config import GlobalWords as GlobalWordSettings
from bot.conversations.intents import GlobalWords
from bot.conversations.matcher import IntentMatcher
from bot.conversations.registry import FlowRegistry
from bot.conversations.understanding import Understanding, build_understanding

FLOWS = Path(__file__).resolve().parents[3] / "flows"


@pytest.fixture(scope="module")
def understanding() -> Understanding:
    registry = FlowRegistry(FLOWS)
    assert registry.load() == []
    return build_understanding(ConversationSettings(), IntentSettings(), registry.all())


@pytest.mark.parametrize(
    ("text", "kind", "result"),
    [
        # The issue's own examples.
        ("i want to complian, my parcel never arived", "intent", "complaint"),
        ("my order never arrived", "intent", "complaint"),
        ("the blender arrived damaged", "intent", "complaint"),
        ("I was overcharged on my last bill", "intent", "complaint"),
        ("my package is lost", "intent", "complaint"),
        ("nobody replied to my email for a week", "intent", "complaint"),
        ("can I speak to a real person", "global", "human"),
        ("operator please", "global", "human"),
        ("let me talk to someone", "global", "human"),
        ("stop sending me messages", "intent", "opt_out"),
        ("unsubscribe me", "intent", "opt_out"),
        ("i want to cancel my subscription", "intent", "cancellation"),
        # Menu labels and commands are what they name.
        ("Report a problem", "intent", "complaint"),
        ("Tips & tricks", "intent", "value_tips"),
        ("/nps", "intent", "nps"),
        ("/complain@engagebot", "intent", "complaint"),
        # Global words typed alone, with a typo.
        ("stpo", "global", "stop"),
        ("hlep", "global", "menu"),
        ("human", "global", "human"),
    ],
)
def test_customer_phrasings_get_the_right_verdict(
    understanding: Understanding, text: str, kind: str, result: str
) -> None:
    verdict = understanding.understand(text)
    assert (verdict.kind, verdict.result) == (kind, result), verdict


@pytest.mark.parametrize(
    "text",
    ["hi", "thanks", "ok", "👍", "🙂🙂", "thank you!", "good morning", "cool", "I love it", "lol", "bye", "?", "..."],
)
def test_small_talk_starts_nothing(understanding: Understanding, text: str) -> None:
    verdict = understanding.understand(text)
    assert (verdict.kind, verdict.result, verdict.small_talk) == ("none", None, True), verdict


@pytest.mark.parametrize(
    ("text", "not_result"),
    [
        ("this is not a complaint", "complaint"),
        ("i'm not complaining, just saying thanks", "complaint"),
        ("I don't want to cancel", "cancellation"),
    ],
)
def test_a_negated_intent_is_not_that_intent(understanding: Understanding, text: str, not_result: str) -> None:
    verdict = understanding.understand(text)
    assert verdict.result != not_result and verdict.kind == "none", verdict


def test_a_greeting_in_front_of_a_complaint_does_not_hide_it(understanding: Understanding) -> None:
    assert understanding.understand("hi there, my parcel still hasnt come").result == "complaint"


def test_typos_are_corrected_to_the_examples_words_but_real_words_are_not(understanding: Understanding) -> None:
    matcher = understanding.matcher
    assert matcher.terms_of("parcle arived") == matcher.terms_of("parcel arrived")
    assert matcher.terms_of("lost") != matcher.terms_of("last")  # "lost" is a word: it stays "lost"


def test_two_close_intents_are_asked_about(understanding: Understanding) -> None:
    close = IntentSettings(ask_margin=100)  # every second candidate is "close"
    asking = build_understanding(ConversationSettings(), close, _flows())
    verdict = asking.understand("stop my membership and the messages")
    assert verdict.kind == "ask" and verdict.result is None
    assert {m.name for m in verdict.candidates[:2]} == {"cancellation", "opt_out"}


def test_waiting_only_what_may_interrupt_counts(understanding: Understanding) -> None:
    """Mid-question only flows marked `interrupts` (and a person, stop) count, at the interrupt threshold."""
    assert understanding.understand("my order never arrived", waiting=True).result == "complaint"
    assert understanding.understand("give me some tips", waiting=True).kind == "none"
    assert understanding.understand("I'd like to leave a review", waiting=True).kind == "none"


def test_json_has_result_kind_and_candidates(understanding: Understanding) -> None:
    data = understanding.understand("my order never arrived").as_json()
    assert data["result"] == "complaint" and data["kind"] == "intent"
    assert set(data["candidates"][0]) == {"name", "phrase", "score"}
    assert data["candidates"][0]["name"] == "complaint" and data["candidates"][0]["score"] >= 90
    scores = [c["score"] for c in data["candidates"]]
    assert scores == sorted(scores, reverse=True) and len({c["name"] for c in data["candidates"]}) == len(scores)


def test_an_empty_matcher_matches_nothing() -> None:
    assert IntentMatcher([]).rank("anything") == []


def test_the_matcher_is_fast_enough_at_a_thousand_phrases() -> None:
    """Not a benchmark (bench/bench_intents.py is): a guard against a per-phrase Python loop creeping in."""
    from bench.bench_intents import example_phrases, queries

    matcher = IntentMatcher(example_phrases(1000))
    texts = queries(200)
    for text in texts:  # corrections cached, as in a running bot
        matcher.rank(text)
    started = time.perf_counter()
    for text in texts:
        matcher.rank(text)
    assert (time.perf_counter() - started) / len(texts) < 0.005


def _flows() -> list:
    registry = FlowRegistry(FLOWS)
    registry.load()
    return registry.all()


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
