"""Typo correction against a vocabulary: a word the examples do not have is read as the closest one they do.

One edit for words up to five letters, two for longer ones ("arived" is "arrived", "complian" is "complain"),
and never for a real English word (pyspellchecker's word list: "lost" stays "lost" and does not become "last")
or a word too short to tell ("od" could be anything). Shared by the word matcher and the classifier.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA

from bot.conversations.wording import is_english, stem

MIN_CORRECTED = 4  # shorter words are not corrected
_CORRECTIONS_KEPT = 50_000


class Speller:
    def __init__(self, spellings: Iterable[str]):
        counted = Counter(spellings)
        self._stems = {stem(word) for word in counted}
        self._spellings = [word for word, _count in counted.most_common()]  # frequent first: ties go to them
        self._corrections: dict[str, str | None] = {}

    def spelled(self, word: str) -> str | None:
        """The vocabulary's word `word` was meant to be, or None when it is to be read as typed (known, too short
        to tell, a real English word, or nothing close)."""
        if stem(word) in self._stems or len(word) < MIN_CORRECTED or is_english(word):
            return None
        if word not in self._corrections:
            allowed = 1 if len(word) <= 5 else 2
            found = process.extractOne(word, self._spellings, scorer=OSA.distance, score_cutoff=allowed)
            if len(self._corrections) >= _CORRECTIONS_KEPT:
                self._corrections.clear()
            self._corrections[word] = found[0] if found else None
        return self._corrections[word]
