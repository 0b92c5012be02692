"""Cues the intent matcher reads besides a message's words: its tone, its tense, and the shape of its question.

Customers complain in words no example has ("this is ridiculous", "I'm livid"), and ask questions no flow
answers with a word a flow has ("what time do you close" is not about closing an account). Four cues carry what
the words alone do not, and the matcher learns what each means from the examples like any other word:

- tone: a word that an English sentiment lexicon (VADER's, shipped in the vaderSentiment package: no network)
  rates clearly negative or positive adds the cue BAD or GOOD. A negation flips the first word it governs ("not
  happy" is BAD), not the next ones ("can't stop smiling" is GOOD). Complaints teach that BAD means a problem,
  small talk that GOOD means nothing to start.
- past: a word in the past tense ("-ed": "it stopped working", "you cancelled my order"), or "did", "was",
  "had" ("it didn't arrive", "it was broken") adds the cue PAST: complaints tell what happened, while stopping
  messages or cancelling a plan asks for something to be done.
- nobody: "nobody", "no one" adds the cue NOBODY: "nobody has contacted me" tells that no one did (a complaint),
  where "don't contact me" asks for it (stop).
- question: a clause opening with a question word adds a cue of its first two words ("what time", "do you",
  "how much"): the questions no flow answers teach that "what time ..." and "do you ..." are asked, not
  complained about.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

from bot.conversations.wording import POLITE, Word

CUE = "~"  # cues start with it; no typed word does (the tokenizer never keeps it)
BAD = CUE + "bad"
GOOD = CUE + "good"
QUESTION = CUE + "q:"
PAST = CUE + "past"
NOBODY = CUE + "nobody"
TONE_STRENGTH = 1.5  # VADER valence (-4..4) from which a word counts as negative or positive
# Positive in the lexicon but said by everyone, whatever they want ("help me", "please").
_NEUTRAL = POLITE | {"help", "like", "yes", "sure", "ok", "okay", "no", "kind", "free", "want", "care"}
_QUESTION_WORDS = frozenset(
    "what whats when where which who why how do does did can could is are was will would should have has".split()
)
# "it didn't arrive", "it was broken": told in the past though no word ends in "-ed".
_PAST_AUXILIARIES = frozenset("did didn didnt was wasn wasnt were weren werent had hadn hadnt".split())
_NOBODY = re.compile(r"\b(?:nobody|noone|no[ -]one|no ?body)\b")
_CLAUSE = re.compile(r"[.!?;,\n]+")
_TOKEN = re.compile(r"[a-z']+")
_GREETINGS = frozenset("hi hello hey hiya yo ok okay so and but um umm well excuse me sorry please pls".split())


def cues(text: str, found: list[Word]) -> list[Word]:
    """The cues of a message whose content words are `found` (wording.words)."""
    return _tone(found) + _questions(text) + _past(text, found) + _nobody(text)


def asks(text: str) -> bool:
    """Is the message a question ("what time do you close", "delivery to Ireland?")?"""
    return text.rstrip().endswith("?") or bool(_questions(text))


def is_question(term: str) -> bool:
    """Is the matcher's term a question cue? (Alone, it is no reason not to read the filler words too.)"""
    return term.startswith(QUESTION)


def _tone(found: list[Word]) -> list[Word]:
    out: list[Word] = []
    previous_negated = False
    for word in found:
        valence = _valence(word.text)
        first_negated = word.negated and not previous_negated
        previous_negated = word.negated
        if abs(valence) < TONE_STRENGTH or word.text in _NEUTRAL:
            continue
        if first_negated:
            valence = -valence
        cue = BAD if valence < 0 else GOOD
        if not out or out[-1].text != cue:
            out.append(Word(cue, False))
    return out


def _past(text: str, found: list[Word]) -> list[Word]:
    regular = any(len(w.text) > 4 and w.text.endswith("ed") and w.text.isalpha() for w in found)
    if regular or any(t.split("'", 1)[0] in _PAST_AUXILIARIES for t in _TOKEN.findall(text.lower().replace("’", "'"))):
        return [Word(PAST, False)]
    return []


def _nobody(text: str) -> list[Word]:
    if _NOBODY.search(text.lower()):
        return [Word(NOBODY, False)]
    return []


def _questions(text: str) -> list[Word]:
    out: list[Word] = []
    for clause in _CLAUSE.split(text.lower().replace("’", "'")):
        tokens = [t.split("'", 1)[0] for t in _TOKEN.findall(clause)]  # "what's" asks as "what" does
        while tokens and tokens[0] in _GREETINGS:
            tokens.pop(0)  # "hi, what time..." and "excuse me, do you..." ask the same
        if len(tokens) >= 2 and tokens[0] in _QUESTION_WORDS:
            out.append(Word(f"{QUESTION}{tokens[0]}_{tokens[1]}", False))
    return out


def _valence(word: str) -> float:
    return _lexicon().get(word, 0.0)


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, float]:
    """VADER's lexicon: word, mean valence, then statistics we do not need (about 7,500 lines, read once)."""
    text = resources.files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(encoding="utf-8")
    out: dict[str, float] = {}
    for line in text.splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            try:
                out[fields[0]] = float(fields[1])
            except ValueError:
                continue
    return out
