"""The intent matcher: which intent a message is closest to, word by word, with typos corrected.

Learned from the example phrases alone (no model, no download):
- a word's weight is how well it tells intents apart: a word found in the examples of one intent only
  ("refund") counts much more than one found in many ("order"), as inverse document frequency over intents;
- an unknown word that is no English word is corrected to the closest word of the examples (one edit for short
  words, two for long): "arived" is "arrived", but "lost" stays "lost" and does not become "last";
- each intent is scored by its closest example (how much of the example the message covers, and how much of the
  message the example explains) blended with the vote of every word of the message for the intents it is
  found in, so a long message whose words each point to complaints reads as a complaint though no one example
  says it all.
Scores are 0-100; the thresholds that turn them into a verdict are in understanding.py.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.conversations.cues import GOOD, asks, cues, is_question
from bot.conversations.intents import IntentMatch
from bot.conversations.wording import NEGATED, Word, is_english, stem, term, words

MIN_CORRECTED = 4  # shorter words are not corrected: "od" could be anything
NEAREST_WEIGHT = 0.6  # of the closest example's score, against the words' vote
EXAMPLE_COVERAGE = 0.5  # how much of the closest example the message covers, against how much of the message
RATE_POWER = 0.25
NEGATION_BACKOFF = 0.5  # of the weight of a negated word no example negates ("never showed up": "show")
FILLER_SHARE = 0.5  # of the weight of filler words, matched only when no other word of a message is known
BACKGROUND_SHARE = 0.3  # of a small talk word's weight in a message that has other words ("hi, my order...")
UNKNOWN_SHARE = 0.35  # an unknown word's weight, as a share of the heaviest: it may be what the message is about
_CORRECTIONS_KEPT = 50_000


class IntentMatcher:
    """Example phrases of many intents (labels); `rank` scores every intent for a message."""

    def __init__(self, examples: Iterable[tuple[str, str]], *, background: str | None = None):
        """`background`: the label of small talk. Its own words ("hi", "thanks") count less in a message that has
        words of other intents too: "hi, my order never came" is about the order."""
        self._background = background
        self._labels: list[str] = []
        self._phrases: list[str] = []
        self._terms: list[frozenset[str]] = []
        seen: set[tuple[str, frozenset[str]]] = set()
        spellings: Counter[str] = Counter()
        for label, phrase in examples:
            found = words(phrase)
            terms = frozenset([term(w) for w in found] + [c.text for c in cues(phrase, found)])
            if not terms or (label, terms) in seen:
                continue  # the same words once more teach nothing
            seen.add((label, terms))
            self._labels.append(label)
            self._phrases.append(phrase)
            self._terms.append(terms)
            spellings.update(w.text for w in found)
        self._stems = {stem(word) for word in spellings}
        self._spellings = [word for word, _count in spellings.most_common()]  # frequent first: ties go to them
        self._corrections: dict[str, str | None] = {}
        self._weights, self._votes = self._learn()
        self._heaviest = max(self._weights.values(), default=1.0)
        self._postings: dict[str, list[int]] = defaultdict(list)
        for index, terms in enumerate(self._terms):
            for t in terms:
                self._postings[t].append(index)
        self._mass = [sum(self._weights[t] for t in terms) for terms in self._terms]

    def __len__(self) -> int:
        return len(self._phrases)

    @property
    def labels(self) -> set[str]:
        return set(self._labels)

    def _learn(self) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        """Each term's weight (inverse frequency over intents) and its vote: how it splits between the intents, by
        the examples it is found in. (Shares evened out by each intent's number of examples were measured worse:
        a short list, such as the questions no flow answers, then took over words like "product".)"""
        per_label: Counter[str] = Counter(self._labels)
        counts: dict[str, Counter[str]] = defaultdict(Counter)
        for label, terms in zip(self._labels, self._terms, strict=True):
            for t in terms:
                counts[t][label] += 1
        total = max(1, len(per_label))
        weights: dict[str, float] = {}
        votes: dict[str, dict[str, float]] = {}
        for t, by_label in counts.items():
            weights[t] = math.log(1 + total / len(by_label))
            whole = sum(by_label.values())
            votes[t] = {label: n / whole for label, n in by_label.items()}
        return weights, votes

    def terms_of(self, text: str) -> list[str]:
        """The message's terms, each unknown word corrected to the examples' closest word if there is one."""
        return [found for found, _share in self._terms_of(text)]

    def _terms_of(self, text: str, *, filler: bool = False) -> list[tuple[str, float]]:
        found = words(text, filler=filler)
        # A cue no example has tells nothing (and, unlike an unknown word, is not what the message is about).
        known_cues = [(c.text, 1.0) for c in cues(text, found) if c.text in self._weights]
        return [self._term(w) for w in found] + known_cues

    def _term(self, word: Word) -> tuple[str, float]:
        """The term and the share of its weight it counts with."""
        if stem(word.text) in self._stems or len(word.text) < MIN_CORRECTED or is_english(word.text):
            found = term(word)  # known, too short to tell, or a real word the examples lack ("lost" is not "last")
        else:
            found = term(word, self._correct(word.text))
        if word.negated and found not in self._weights:
            opposite = "un" + found.removeprefix(NEGATED)
            if opposite in self._weights:
                return opposite, 1.0  # "not acceptable" says what the examples' "unacceptable" does
            # No example says "not <word>": the word itself still tells something of what the message is about,
            # though less ("never showed up" is not "show me").
            return found.removeprefix(NEGATED), NEGATION_BACKOFF
        return found, 1.0

    def _correct(self, word: str) -> str:
        if word in self._corrections:
            return self._corrections[word] or word
        allowed = 1 if len(word) <= 5 else 2
        found = process.extractOne(word, self._spellings, scorer=OSA.distance, score_cutoff=allowed)
        if len(self._corrections) >= _CORRECTIONS_KEPT:
            self._corrections.clear()
        self._corrections[word] = found[0] if found else None
        return found[0] if found else word

    def rank(
        self, text: str, *, limit: int | None = None, leave_out: tuple[str, str] | None = None
    ) -> list[IntentMatch]:
        """Every intent that shares a word with the message, best first: its closest example and its 0-100 score.
        `leave_out`: a (label, phrase) example not to be the closest (to ask where an example itself would go)."""
        shares = dict(self._terms_of(text))
        terms = set(shares)
        if not terms:
            return []
        known = [t for t in terms if t in self._weights]
        if not any(not is_question(t) for t in known) and asks(text):
            # No content word of a question is known ("what do you do exactly"): its filler words may still say
            # it. (Not of a statement: "this is unbelievable" is no "what is this".)
            shares = {t: share * FILLER_SHARE for t, share in self._terms_of(text, filler=True)}
            terms = set(shares)
            known = [t for t in terms if t in self._weights]
            if not known:
                return []
        weights = {t: self._weights[t] * shares[t] for t in known}
        if self._background is not None:
            # Negated words are not small talk's own: "not a complaint" says what the message is not.
            chat = {t for t in known if not t.startswith(NEGATED) and self._votes[t].get(self._background, 0.0) == 1.0}
            if chat:
                chat |= {t for t in known if t == GOOD}  # "good" in "any good tips" is as much small talk as the word
            if chat and len(chat) < len(known):
                for t in chat:
                    weights[t] *= BACKGROUND_SHARE
        mass = sum(weights.values()) + UNKNOWN_SHARE * self._heaviest * (len(terms) - len(known))
        shared: dict[int, float] = defaultdict(float)
        vote: dict[str, float] = defaultdict(float)
        for t, weight in weights.items():
            for index in self._postings[t]:
                shared[index] += weight
            for label, share in self._votes[t].items():
                vote[label] += weight * share
        nearest: dict[str, tuple[float, int]] = {}
        for index, weight in shared.items():
            if leave_out is not None and (self._labels[index], self._phrases[index]) == leave_out:
                continue
            score = EXAMPLE_COVERAGE * weight / self._mass[index] + (1 - EXAMPLE_COVERAGE) * weight / mass
            label = self._labels[index]
            if label not in nearest or score > nearest[label][0]:
                nearest[label] = (score, index)
        ranked = [
            IntentMatch(label, self._phrases[index], _blend(score, vote[label] / mass))
            for label, (score, index) in nearest.items()
        ]
        ranked.sort(key=lambda m: -m.score)
        return ranked[:limit] if limit else ranked


def _blend(nearest: float, vote: float) -> float:
    return round(100 * (NEAREST_WEIGHT * nearest + (1 - NEAREST_WEIGHT) * vote), 1)
