"""Intent matching with rapidfuzz: example phrases preprocessed once, matched per message."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import OSA, Levenshtein

from bot.conversations.textmatch import fold

SHORT_QUERY = 3
# From this many phrases on, WRatio (about 2.5 µs a phrase) scores only the likely candidates: phrases sharing a
# word with the message (typos allowed), and the closest ones letter by letter (a joined or split word). Below
# it, scoring every phrase is cheaper than choosing.
CANDIDATES_FROM = 200
CLOSEST_BY_LETTERS = 32


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The flow an utterance points to, the example phrase it resembled, and the 0-100 score."""

    name: str
    phrase: str
    score: float


class IntentIndex:
    """Example phrases of many intents; `best` finds the closest one above a cutoff."""

    def __init__(self, examples: Iterable[tuple[str, str]]):
        names: list[str] = []
        phrases: list[str] = []
        processed: list[str] = []
        seen: dict[str, int] = {}
        for name, phrase in examples:
            clean = fold(phrase)
            # Phrases that fold to the same words ("I want to cancel" / "please cancel") are scored once.
            if clean and clean not in seen:
                seen[clean] = len(processed)
                names.append(name)
                phrases.append(phrase)
                processed.append(clean)
        self._exact = seen
        self._names = names
        self._phrases = phrases
        self._processed = processed
        self._by_word: dict[str, list[int]] = {}
        if len(processed) >= CANDIDATES_FROM:
            for index, clean in enumerate(processed):
                for word in set(clean.split()):
                    self._by_word.setdefault(word, []).append(index)
        self._words = list(self._by_word)

    def __len__(self) -> int:
        return len(self._processed)

    def best(self, text: str, cutoff: float) -> IntentMatch | None:
        query = fold(text)
        if not query or not self._processed:
            return None
        if query in self._exact:  # a tapped menu label or a phrase word for word: no scoring needed
            index = self._exact[query]
            return IntentMatch(self._names[index], self._phrases[index], 100.0)
        candidates = self._candidates(query)
        # In index order, so a tie goes to the same phrase as when every phrase is scored.
        choices = self._processed if candidates is None else {i: self._processed[i] for i in sorted(candidates)}
        found = process.extractOne(query, choices, scorer=_scorer(query), score_cutoff=cutoff)
        if found is None:
            return None
        _choice, score, index = found
        return IntentMatch(self._names[index], self._phrases[index], score)

    def _candidates(self, query: str) -> set[int] | None:
        """The phrases worth scoring with WRatio, or None for all of them (see CANDIDATES_FROM)."""
        if not self._by_word:
            return None
        found: set[int] = set()
        for word in set(query.split()):
            if word in self._by_word:
                found.update(self._by_word[word])
            elif len(word) > SHORT_QUERY:
                allowed = 1 if len(word) <= 6 else 2
                for similar, _distance, _ in process.extract(
                    word, self._words, scorer=Levenshtein.distance, score_cutoff=allowed, limit=None
                ):
                    found.update(self._by_word[similar])
        closest = process.extract(query, self._processed, scorer=fuzz.ratio, limit=CLOSEST_BY_LETTERS)
        found.update(index for _choice, _score, index in closest)
        return found

    def explain(self, text: str, limit: int = 5) -> list[IntentMatch]:
        """The best candidates with their scores, one per intent, for `engagebot intents explain`."""
        query = fold(text)
        if not query:
            return []
        found = process.extract(query, self._processed, scorer=_scorer(query), limit=limit * 8)
        out: list[IntentMatch] = []
        seen: set[str] = set()
        for _choice, score, index in found:
            name = self._names[index]
            if name not in seen:
                seen.add(name)
                out.append(IntentMatch(name, self._phrases[index], score))
            if len(out) == limit:
                break
        return out


def _scorer(query: str) -> Any:
    """WRatio, except for very short texts, whose partial matches inside words mean nothing ("ok" in "broken")."""
    return fuzz.ratio if len(query) <= SHORT_QUERY else fuzz.WRatio


class GlobalWords:
    """Words that work anywhere; matched on the whole message so they never fire inside a sentence.

    Short words allow one typo ("stpo", "hlep"), longer ones two ("unsubscibe").
    """

    def __init__(self, words: dict[str, Iterable[str]]):
        self._exact: dict[str, str] = {}
        self._fuzzy: list[tuple[str, str, int]] = []
        for name, variants in words.items():
            for word in variants:
                clean = normalize(word)
                if not clean:
                    continue
                self._exact.setdefault(clean, name)
                if len(clean) >= 4:
                    self._fuzzy.append((clean, name, 1 if len(clean) <= 6 else 2))

    def match(self, text: str) -> str | None:
        clean = normalize(text)
        if not clean or len(clean) > 40:
            return None
        if clean in self._exact:
            return self._exact[clean]
        best: tuple[int, str] | None = None
        for word, name, allowed in self._fuzzy:
            if abs(len(word) - len(clean)) > allowed:
                continue
            distance = OSA.distance(clean, word, score_cutoff=allowed)
            if distance <= allowed and (best is None or distance < best[0]):
                best = (distance, name)
        return best[1] if best else None


def normalize(text: str) -> str:
    """Lower case, punctuation folded, but a leading / kept so commands stay commands."""
    slash = "/" if text.strip().startswith("/") else ""
    return slash + utils.default_process(text)
