"""Yes/no answers: the words in many spellings ("yesss", "nope", "👍"), a sure first word, or a small typo."""

from __future__ import annotations

import re

from rapidfuzz.distance import OSA

from bot.conversations.answers.cleaning import NEGATIONS, words
from bot.conversations.answers.parsed import AnswerContext, Parsed, accepted, refused
from bot.conversations.schema import AskStep

_YES = frozenset({
    "yes", "y", "yeah", "yea", "ya", "yep", "yup", "sure", "ok", "okay", "of course", "correct", "true",
    "absolutely", "definitely", "certainly", "alright", "all right", "sounds good", "go ahead", "please do",
    "why not", "👍", "✅", "👌", "✔",
})  # fmt: skip
_NO = frozenset({
    "no", "n", "nope", "nah", "not really", "false", "not now", "no way", "not at all", "rather not",
    "i'd rather not", "no, thank you", "👎", "❌", "✖",
})  # fmt: skip
# Words that make "no idea", "no problem" or "yes maybe" something other than a plain yes or no.
_UNSURE = frozenset({"idea", "problem", "problems", "worries", "clue", "maybe", "perhaps", "know"})


def _squeeze(word: str) -> str:
    """Repeated letters once: "yesss" -> "yes", "noooo" -> "no", "correct" -> "corect"."""
    return re.sub(r"(.)\1+", r"\1", word)


_YES_SQUEEZED = frozenset(_squeeze(w) for w in _YES)
_NO_SQUEEZED = frozenset(_squeeze(w) for w in _NO)


def yes_no_words(said: str) -> bool | None:
    """True / False for a yes or no in so many words ("Yes!", "nooo", "yes please"), else None."""
    if not said:
        return None
    squeezed = _squeeze(said)
    if said in _YES or squeezed in _YES_SQUEEZED:
        return True
    if said in _NO or squeezed in _NO_SQUEEZED:
        return False
    # "yes please", "no thanks", "nope, not today": the first word answers, unless the rest
    # says otherwise ("yes no", "yes I don't", "no idea", "no problem").
    tokens = [_squeeze(t) for t in re.split(r"[\s,.!?;:'’]+", said) if t]
    if len(tokens) < 2:
        return None
    first, rest = tokens[0], set(tokens[1:])
    if rest & _UNSURE:
        return None
    if first in _YES_SQUEEZED and not rest & (_NO_SQUEEZED | NEGATIONS):
        return True
    if first in _NO_SQUEEZED and not rest & _YES_SQUEEZED:
        return False
    return None


def _yes_no_fuzzy(said: str) -> bool | None:
    """A typo of one of the words ("yse", "nop", "ofcourse"): one edit for short words, two for
    words of seven letters or more; a typo as close to a yes as to a no is refused."""
    squeezed = _squeeze(said)
    if len(squeezed) < 3 or len(squeezed) > 20:
        return None
    best: dict[bool, int] = {}
    for answer, vocabulary in ((True, _YES_SQUEEZED), (False, _NO_SQUEEZED)):
        for word in vocabulary:
            if len(word) < 3:
                continue
            allowed = 2 if len(word) >= 7 else 1
            distance = OSA.distance(squeezed, word, score_cutoff=allowed)
            if distance <= allowed:
                best[answer] = min(best.get(answer, distance), distance)
    if len(best) == 1:
        return next(iter(best))
    if len(best) == 2 and best[True] != best[False]:
        return best[True] < best[False]
    return None


def yes_no(said: bool) -> Parsed:
    return accepted(said, "Yes" if said else "No")


def parse_yes_no(step: AskStep, text: str, ctx: AnswerContext) -> Parsed:
    if not text:
        return refused("empty")
    said = words(text)
    answer = yes_no_words(said)
    if answer is None:
        answer = _yes_no_fuzzy(said)
    return refused("not_yes_no") if answer is None else yes_no(answer)
