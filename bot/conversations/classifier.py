"""The intent classifier: which intent a message means, learned from example phrasings.

The word matcher (matcher.py) scores a message by the examples it shares words with, so a complaint worded
unlike every example ("the cream is expired", "i only got 2 of the 3 shirts") reaches nothing. This model
learns from many realistic messages instead: the flows' examples and the global words' phrasings, plus a
corpus of 2,240 customer messages shipped with the package (phrasings/en.tsv, labelled by the starter flows'
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
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path

import numpy as np

from bot.config.conversations import BUILTIN_CORPUS
from bot.conversations.spelling import Speller
from bot.conversations.wording import term, words

BUILTIN = BUILTIN_CORPUS  # the corpus shipped with the package
SHARPNESS = 3.0  # the softmax's scale on decision values: how sure a clear margin reads
NOTHING_FITS = -0.4  # the decision value of "no intent fits" (docs/understanding.md)
WORDS = 0  # the index of the words' view among the views
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
        views = [
            TfidfVectorizer(analyzer=_word_features, sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True),
        ]
        matrix = make_union(*views).fit_transform([text for _, text in both])
        self._classes = self.labels
        self._views: list[_View] = []
        if len(self.labels) < 2:
            return
        model = LinearSVC(C=1.0, class_weight="balanced", random_state=0)
        model.fit(matrix, labels, sample_weight=weights)
        coef, intercept = model.coef_, model.intercept_
        if len(self.labels) == 2:  # a binary model has one row: the second label's; the first is its negative
            coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
        self._classes = tuple(map(str, model.classes_))
        # Scoring one message through scikit-learn's transform and decision_function costs milliseconds of
        # checks; the same sums over the few features a message has take a few microseconds (tested equal).
        self._weights = np.ascontiguousarray(coef.T, dtype=np.float64)  # one row per feature, a column per label
        self._intercept = intercept.astype(np.float64)
        # A word no message taught is read as the closest one that one did ("complian": "complain").
        speller = Speller(w.text for _, text in both for w in words(text, filler=True))
        analyzers = [partial(_word_features, speller=speller), views[1].build_analyzer()]
        offset = 0
        for view, analyzer in zip(views, analyzers, strict=True):
            self._views.append(_View(analyzer, view.vocabulary_, array("d", view.idf_), offset))
            offset += len(view.vocabulary_)

    def decision(self, text: str) -> dict[str, float] | None:
        """Each label's decision value (what LinearSVC.decision_function gives for the message, typos corrected),
        or None when not one word of the message is known: letter sequences alone ("[31mred" shares "red" with
        "delivered") are no evidence of anything."""
        features: list[int] = []
        values: list[float] = []
        for index, view in enumerate(self._views):
            found = view.features(text)
            if found is None and index == WORDS:
                return None
            if found is not None:
                features += found[0]
                values += found[1]
        # One product over both views' features, the rest in plain floats: for a message's few dozen features,
        # numpy's dispatch of each call cost more than its arithmetic, and more with caches cold from the rest of a
        # turn (a free-text answer's understanding took 0.3 ms in a bench turn, 0.1 ms called alone).
        total = self._intercept + np.asarray(values) @ self._weights[features]
        return dict(zip(self._classes, total.tolist(), strict=True))

    def scores(self, text: str) -> list[tuple[str, float]]:
        if not self._views:
            return [(label, 100.0) for label in self.labels]
        pairs = self.decision(text)
        if pairs is None:
            return [(self._unknown, 100.0)] if self._unknown is not None else []
        if self._unknown is not None:
            # No intent fits when every decision value is low ("what is the weather on mars"): "nothing fits"
            # is one more candidate, at a fixed value, under the label of what starts nothing.
            pairs[self._unknown] = max(pairs.get(self._unknown, NOTHING_FITS), NOTHING_FITS)
        return _softmax(pairs.items())


@dataclass(frozen=True, slots=True)
class _View:
    """One tf-idf view of a message (its words, or its letter sequences), as the fitted vectorizer computes it:
    sublinear term frequency times idf, over the features it learned, scaled to unit length."""

    analyzer: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: array[float]  # by feature; an array, whose items read as floats at once
    offset: int  # where its features start in the model's weights

    def features(self, text: str) -> tuple[list[int], list[float]] | None:
        """The message's features (their rows in the model's weights) and their values; None for none known."""
        counts = Counter(j for feature in self.analyzer(text) if (j := self.vocabulary.get(feature)) is not None)
        if not counts:
            return None
        idf = self.idf
        values = [(1.0 + math.log(count)) * idf[j] for j, count in counts.items()]
        length = math.sqrt(sum(value * value for value in values))
        return [j + self.offset for j in counts], [value / length for value in values]


def _word_features(text: str, speller: Speller | None = None) -> list[str]:
    terms = [term(w, speller.spelled(w.text) if speller else None) for w in words(text, filler=True)]
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
