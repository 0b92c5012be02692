"""The matcher's reading of words (negation, contractions, politeness), and the grouping of unmatched messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from bot.config import IntentSettings
from bot.conversations.matcher import IntentMatcher
from bot.conversations.unmatched import group_similar
from bot.conversations.wording import Word, words

MATCHER = IntentMatcher(
    [
        ("complaint", "my parcel hasn't arrived"),
        ("complaint", "the item is broken"),
        ("opt_out", "no more messages"),
        ("none", "no thanks"),
        ("none", "this is not a complaint"),
        ("complaint", "I want to complain"),
    ],
    background="none",
)


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ("my parcel never arrived", "my parcel hasn't arrived"),
        ("my parcel hasnt arrived", "my parcel has not arrived"),
        ("My PARCEL didn't arrive!!", "my parcel never arrived"),
        ("parcle never arived", "parcel never arrived"),  # typos corrected to the examples' words
    ],
)
def test_wordings_that_mean_the_same_read_the_same(text: str, same_as: str) -> None:
    assert MATCHER.terms_of(text) == MATCHER.terms_of(same_as)


def test_a_negation_marks_the_next_two_content_words_within_its_clause() -> None:
    assert words("this is not a complaint") == [Word("complaint", True)]
    assert words("not broken, just slow") == [Word("broken", True), Word("slow", False)]
    assert words("no") == [Word("no", False)]


def test_politeness_is_never_negated() -> None:
    assert words("no more notifications thanks") == [Word("notifications", True), Word("thanks", False)]
    assert [w.text for w in words("no thanks")] == ["thanks", "no"]


def test_a_negated_intent_word_reads_as_what_the_examples_say_about_it() -> None:
    assert MATCHER.rank("this is not a complaint")[0].name == "none"
    assert MATCHER.rank("the item is not broken")[0].name == "complaint"  # no example negates it: half weight


def test_a_greeting_counts_less_next_to_other_words() -> None:
    ranked = MATCHER.rank("no thanks, my parcel never arrived")
    assert ranked[0].name == "complaint"


def test_scores_are_0_to_100_one_per_intent_best_first() -> None:
    ranked = MATCHER.rank("my parcel hasn't arrived")
    assert ranked[0].score == 100.0 and ranked[0].phrase == "my parcel hasn't arrived"
    assert len({m.name for m in ranked}) == len(ranked)
    assert [m.score for m in ranked] == sorted((m.score for m in ranked), reverse=True)


def test_unknown_words_match_nothing() -> None:
    assert MATCHER.rank("qwzx plorbt") == []


def test_unmatched_messages_are_grouped_by_similar_wording_largest_first() -> None:
    now = datetime(2026, 12, 4, 12, tzinfo=UTC)
    messages = [
        ("do you have parking", now),
        ("Do you have parking?", now + timedelta(minutes=5)),
        ("parking, do you have any", now - timedelta(days=1)),
        ("what is the weather on mars", now),
        ("do you have parking", now - timedelta(hours=1)),
    ]
    groups = group_similar(messages)
    assert [(g.count, g.texts[0]) for g in groups] == [(4, "do you have parking"), (1, "what is the weather on mars")]
    assert groups[0].last_at == now + timedelta(minutes=5)


def test_phrases_may_only_be_given_for_global_words() -> None:
    with pytest.raises(ValidationError, match="not a global word: refund"):
        IntentSettings(phrases={"refund": ("money back",)})
