"""What the matcher finds (IntentMatch), and the global words that work anywhere, typed as the whole message."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz import utils
from rapidfuzz.distance import OSA


@dataclass(frozen=True, slots=True)
class IntentMatch:
    """The flow an utterance points to, the example phrase it resembled, and the 0-100 score."""

    name: str
    phrase: str
    score: float


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
