"""The intent classifier: which intent a message means, learned from example phrasings.

The word matcher (matcher.py) scores a message by the examples it shares words with, so a complaint worded
unlike every example ("the cream is expired", "i only got 2 of the 3 shirts") reaches nothing. This model
learns from many realistic messages instead: the flows' examples and the global words' phrasings, plus a
corpus of 2,000 customer messages shipped with the package (phrasings/en.tsv, labelled by the starter flows'
ids; `intents.corpus` in config.yaml).

A linear support vector machine (scikit-learn's LinearSVC) over two views of a message:
- its words as the matcher reads them (wording.py: contractions opened, word stems, negation marked, so "not a
  complaint" is not "complaint"), single and in pairs;
- its letter sequences of 3 to 5 within words, so a typo ("complian", "arived") still shares most of the word.
Scores are the decision values through a softmax, 0-100, summing to 100 over the intents.

Learning takes a fraction of a second for a few thousand phrasings and is kept per set of examples, so the
flows in force are learned once per process, and again only when they change.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Sequence
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config.conversations import BUILTIN_CORPUS
from bot.conversations.wording import term, words

if TYPE_CHECKING:
    from scipy.sparse import spmatrix

BUILTIN = BUILTIN_CORPUS  # the corpus shipped with the package
SHARPNESS = 3.0  # the softmax's scale on decision values: how sure a clear margin reads
NOTHING_FITS = -0.4  # the decision value of "no intent fits" (docs/understanding.md)
EXAMPLE_WEIGHT = 3.0  # an example phrase against a corpus message (docs/understanding.md)
_KEPT = 8  # learned models kept per process (the flows in force, and a few more in tests and the console preview)


class IntentClassifier:
    """`scores(text)`: every intent's 0-100 score for a message, best first."""

    def __init__(
        self, examples: Sequence[tuple[str, str]], corpus: Sequence[tuple[str, str]] = (), unknown: str | None = None
    ):
        """`examples`: the admin's own (the flows', config.yaml's); `corpus`: the shipped messages, which count
        less: an example phrase says what its flow means, and it wins over the corpus where they disagree.
        `unknown`: the label scored when no intent fits (its decision value is never below NOTHING_FITS)."""
        self._unknown = unknown
        # Imported here: scikit-learn takes about a second to import, which only what understands text pays.
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_union
        from sklearn.svm import LinearSVC

        both = [*examples, *corpus]
        labels = [label for label, _ in both]
        weights = [EXAMPLE_WEIGHT] * len(examples) + [1.0] * len(corpus)
        self.labels: tuple[str, ...] = tuple(sorted(set(labels)))
        self._vectorizer = make_union(
            TfidfVectorizer(analyzer=_word_features, sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True),
        )
        matrix = self._vectorizer.fit_transform([text for _, text in both])
        self._model = None
        if len(self.labels) > 1:
            self._model = LinearSVC(C=1.0, class_weight="balanced", random_state=0)
            self._model.fit(matrix, labels, sample_weight=weights)

    def scores(self, text: str) -> list[tuple[str, float]]:
        if self._model is None:
            return [(label, 100.0) for label in self.labels]
        decision = self._model.decision_function(self._features(text))[0]
        if len(self.labels) == 2:  # a binary model has one decision value: for the second label
            decision = [-decision, decision]
        pairs = dict(zip(map(str, self._model.classes_), map(float, decision), strict=True))
        if self._unknown is not None:
            # No intent fits when every decision value is low ("what is the weather on mars"): "nothing fits"
            # is one more candidate, at a fixed value, under the label of what starts nothing.
            pairs[self._unknown] = max(pairs.get(self._unknown, NOTHING_FITS), NOTHING_FITS)
        return _softmax(pairs.items())

    def _features(self, text: str) -> spmatrix:
        return self._vectorizer.transform([text])


def _word_features(text: str) -> list[str]:
    terms = [term(w) for w in words(text, filler=True)]
    return terms + [f"{a} {b}" for a, b in itertools.pairwise(terms)]


def _softmax(decisions: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    pairs = list(decisions)
    top = max(value for _, value in pairs)
    weights = [(label, math.exp(SHARPNESS * (value - top))) for label, value in pairs]
    whole = sum(weight for _, weight in weights)
    ranked = [(str(label), round(100 * weight / whole, 1)) for label, weight in weights]
    ranked.sort(key=lambda pair: -pair[1])
    return ranked


@lru_cache(maxsize=_KEPT)
def learn(
    examples: tuple[tuple[str, str], ...], corpus: tuple[tuple[str, str], ...] = (), unknown: str | None = None
) -> IntentClassifier:
    """The model for these (label, phrase) examples and corpus messages, learned once per process."""
    return IntentClassifier(examples, corpus, unknown)


def read_corpus(source: str, base: Path | None = None) -> list[tuple[str, str]]:
    """(label, text) pairs of a labelled file with the columns `text` and `expected` (as `intents test` reads):
    the shipped corpus (`builtin`) or a path, relative to `base` (the config file's folder)."""
    if source == BUILTIN:
        with resources.files("bot.conversations.phrasings").joinpath("en.tsv").open(encoding="utf-8") as f:
            return _rows(f)
    path = Path(source)
    if not path.is_absolute() and base is not None:
        path = base / path
    with path.open(encoding="utf-8", newline="") as f:
        return _rows(f)


def _rows(lines: Iterable[str]) -> list[tuple[str, str]]:
    return [
        (row["expected"].strip(), row["text"].strip())
        for row in csv.DictReader(lines, delimiter="\t")
        if row.get("text") and row.get("expected")
    ]
