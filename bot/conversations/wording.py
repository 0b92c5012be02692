"""A message's words as the intent matcher reads them: contractions opened, filler dropped, negation marked.

"my parcel hasn't arrived" and "my parcel never arrived" must read alike, and "this is not a complaint" must
not read like "this is a complaint": so a negation ("not", "never", "no", "nobody"...) marks the next content
words ("not" + "arrived"), and the matcher learns such marked words from the examples like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer
from spellchecker import SpellChecker

# Letters and digits, with an apostrophe inside a word kept for "hasn't"; anything else (emoji too) separates.
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*|[.,;:!?]")
_CLAUSE_END = frozenset(".,;:!?")
# Negations written without their apostrophe, as customers type them.
_NEGATED = frozenset(
    """dont doesnt didnt hasnt havent hadnt isnt arent wasnt werent cant cannot wont wouldnt couldnt shouldnt
    aint dnt didn doesn isn wasn hasn haven cudnt wudnt""".split()
)
# Contractions whose first part is not the word: "can't" is "can not", not "ca not".
_NOT_CONTRACTED = {"can't": "can", "won't": "will", "shan't": "shall"}
NEGATIONS = frozenset({"not", "no", "never", "nobody", "noone", "nothing", "none", "nope", "without", "nor"})
NEGATION_SCOPE = 1  # content words marked after a negation ("never arrived", "not a complaint")
# Politeness is never what a negation negates: "no more notifications thanks" is not "no thanks".
POLITE = frozenset({"thanks", "thank", "thx", "ty", "please", "pls", "plz", "cheers"})
NEGATED = "not_"

# Words that say little about what a customer wants. Negations are not here: they are read before filler is
# dropped. Greetings and thanks are not here either: they are what small talk is made of.
FILLER = frozenset(
    """a an the i me my mine myself we us our you your yours it its it's is am are was were be been being do does
    did doing to of in on at for with and or but so just please pls plz can could would will should shall may
    might must that this these those there here what whats how who whom which when where why im ive id ill i'm
    i've i'd i'll want wanna wants wanted need needs needed like would'd get got getting have has had having s t
    m d ll re ve some any anything more anymore also too very really still yet then than about from by as if ever
    even literally actually honestly into up out over again all one ones thing things bit kinda sort u ur ya yo
    many lot lots else""".split()
)

_stemmer = snowballstemmer.stemmer("english")
# Words this common in pyspellchecker's English frequency list are real words, not typos to correct.
ENGLISH_MIN_COUNT = 50


@dataclass(frozen=True, slots=True)
class Word:
    """One content word of a message: as typed (lower case), and whether a negation governs it."""

    text: str
    negated: bool


def words(text: str, *, filler: bool = False) -> list[Word]:
    """The content words of `text`, in order. When everything is filler ("what can you do"), or `filler` is
    asked for, the filler is kept: it is then all there is to match."""
    tokens = _tokens(text)
    content = [] if filler else _marked(tokens, keep_filler=False)
    return content if content else _marked(tokens, keep_filler=True)


def stem(word: str) -> str:
    """The word's stem ("arrived", "arrives" -> "arriv"), cached: the vocabulary of customers is small."""
    return _stem(word)


def term(word: Word, spelled: str | None = None) -> str:
    """The matcher's term for a word: its stem, marked when negated. `spelled`: the word as corrected."""
    base = stem(spelled if spelled is not None else word.text)
    return NEGATED + base if word.negated else base


def is_english(word: str) -> bool:
    """Is `word` a real English word (so a customer typing it meant it)?"""
    return word in _english_words()


def load_english_words() -> None:
    """Read the word list now (at start-up) rather than while the first customer who writes free text waits."""
    _english_words()


@lru_cache(maxsize=1)
def _english_words() -> frozenset[str]:
    """Read once per process (about 0.3 s); only the set of words is kept, not the checker."""
    frequencies = SpellChecker(language="en").word_frequency.dictionary
    return frozenset(word for word, count in frequencies.items() if count >= ENGLISH_MIN_COUNT)


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return str(_stemmer.stemWord(word))


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    for token in _TOKEN.findall(text.lower()):
        token = token.replace("’", "'")
        if token.endswith("n't"):
            out += [_NOT_CONTRACTED.get(token, token[:-3]) or "not", "not"]
        elif token in _NEGATED:
            out.append("not")
        elif "'" in token:
            out.append(token.split("'", 1)[0])  # "order's", "I'm", "you're": the word before the apostrophe
        else:
            out.append(token)
    return out


def _marked(tokens: list[str], *, keep_filler: bool) -> list[Word]:
    out: list[Word] = []
    scope = 0
    pending_negation = ""
    for token in tokens:
        if token in _CLAUSE_END:
            if pending_negation:
                out.append(Word(pending_negation, False))  # "no." or "no!" on its own is a word
            scope, pending_negation = 0, ""
            continue
        if token in NEGATIONS:
            if pending_negation and pending_negation != token:
                out.append(Word(pending_negation, False))
            scope, pending_negation = NEGATION_SCOPE, token
            continue
        if token in FILLER:
            if keep_filler:  # kept, but never what a negation negates: "don't want to cancel" negates "cancel"
                out.append(Word(token, False))
            continue
        if token in POLITE:
            out.append(Word(token, False))
            if pending_negation:  # "no thanks, I'm good": the "no" was the answer, "good" is not negated
                out.append(Word(pending_negation, False))
                scope, pending_negation = 0, ""
            continue
        out.append(Word(token, scope > 0))
        if scope:
            scope -= 1
            pending_negation = ""
    if pending_negation:
        out.append(Word(pending_negation, False))
    return out
