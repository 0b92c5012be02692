"""Choice answers: a pressed button (an index into the options) or a typed label, number or near miss."""

from __future__ import annotations

import re
from typing import Any

from rapidfuzz import fuzz, process, utils

from bot.conversations.answers.cleaning import NEGATIONS, SHORT, ascii_digits, words
from bot.conversations.answers.ordinal import position
from bot.conversations.answers.parsed import AnswerContext, Parsed, accepted, refused
from bot.conversations.answers.yes_no import yes_no_words
from bot.conversations.schema import AskStep
from bot.conversations.textmatch import fold

# A typed answer shorter than this (after rapidfuzz's processing) is not fuzzy-matched:
# WRatio scores "a" against "Bad" at 90.
_FUZZY_MIN_LENGTH = 3


def answer_options(step: AskStep) -> list[tuple[str, Any]]:
    """(button label, saved value) for the kinds answered with a button; [] for the others."""
    match step.expect:
        case "choice":
            return [(choice.label, choice.saved) for choice in step.choices]
        case "yes_no":
            return [("Yes", True), ("No", False)]
        case "rating":
            return [(str(n), n) for n in range(1, 6)]
        case "nps":
            return [(str(n), n) for n in range(0, 11)]
        case _:
            return []


def parse_choice_index(step: AskStep, index: int) -> Parsed:
    """A pressed button: `index` into `answer_options(step)` (0-based)."""
    options = answer_options(step)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(options):
        return refused("out_of_range")
    label, value = options[index]
    return accepted(value, label)


def choice_exact(step: AskStep, text: str) -> Parsed | None:
    """The option whose label or saved value is the text, ignoring case (then punctuation too)."""
    said = words(text)
    if not said:
        return None
    for choice in step.choices:
        if said in (words(choice.label), words(choice.saved)):
            return accepted(choice.saved, choice.label)
    processed = utils.default_process(said)
    if processed:
        for choice in step.choices:
            if processed in (
                utils.default_process(choice.label), utils.default_process(choice.saved)
            ):  # fmt: skip
                return accepted(choice.saved, choice.label)
    return None


def parse_choice(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return refused("empty")
    # Exact labels come before option numbers, so options "0", "1", "2" mean what they say.
    exact = choice_exact(step, text)
    if exact is not None:
        return exact
    if re.fullmatch(r"#?\s*(\d{1,3})", ascii_digits(words(text))):
        place = position(text, len(step.choices))
        if place is None:
            return refused("out_of_range")
    else:
        place = position(text, len(step.choices))  # "the first one", "2nd", "option three", "the last"
    if place is not None:
        choice = step.choices[place - 1]
        return accepted(choice.saved, choice.label)
    said = yes_no_words(words(text))
    if said is not None:  # "yes", "nope", a thumbs-up, to options such as "Yes, please" / "No thanks"
        found = _yes_no_option(step, said)
        if found is not None:
            return found
    raw_query = utils.default_process(words(text)[: SHORT * 4])
    query = fold(raw_query)  # filler words dropped: "my" must not tie "cancel my plan" to "For my work"
    if len(query) < _FUZZY_MIN_LENGTH:
        return refused("no_match")
    labels = [choice.label for choice in step.choices]
    found = process.extract(
        query,
        labels,
        scorer=fuzz.WRatio,
        processor=fold,
        score_cutoff=ctx.choice_threshold,
        limit=2,
    )
    if not found:
        return refused("no_match")
    if len(found) == 2 and found[0][1] == found[1][1]:
        return refused("ambiguous")
    _label, _score, index = found[0]
    # WRatio forgives extra words, so "not good" would be "Good": refuse a negation the
    # label does not have.
    label_words = set(utils.default_process(labels[index]).split())
    if set(raw_query.split()) & NEGATIONS and not label_words & NEGATIONS:
        return refused("no_match")
    choice = step.choices[index]
    return accepted(choice.saved, choice.label)


def _yes_no_option(step: AskStep, said: bool) -> Parsed | None:
    """The one option whose label opens with a yes (or a no) word, for a yes or no typed to it."""
    fitting = [choice for choice in step.choices if yes_no_words(_first_word(choice.label)) is said]
    if len(fitting) != 1:
        return None
    return accepted(fitting[0].saved, fitting[0].label)


def _first_word(label: str) -> str:
    found = re.match(r"[^\s,.!?;:]+", words(label))
    return found[0] if found else ""
