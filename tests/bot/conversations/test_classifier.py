"""The intent classifier: what it learns from the examples and the shipped corpus, and how the corpus is set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_union
from sklearn.svm import LinearSVC

from bot.config import ConversationSettings, IntentSettings, load_settings
from bot.conversations.classifier import IntentClassifier, _word_features, read_corpus
from bot.conversations.registry import FlowRegistry
from bot.conversations.understanding import build_understanding
from bot.yamlsource import SourceError

FLOWS = Path(__file__).resolve().parents[3] / "flows"

EXAMPLES = [
    ("complaint", "my parcel never arrived"),
    ("complaint", "the blender came broken"),
    ("complaint", "you charged me twice"),
    ("cancellation", "cancel my plan"),
    ("cancellation", "close my account please"),
    ("none", "thanks a lot"),
    ("none", "hello there"),
]


def test_its_scores_are_the_fitted_models_decision_values_through_a_softmax() -> None:
    """The fast scoring path (sums over a message's features) gives what scikit-learn itself computes."""
    classifier = IntentClassifier(EXAMPLES)
    views = make_union(
        TfidfVectorizer(analyzer=_word_features, sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, lowercase=True),
    )
    matrix = views.fit_transform([text for _, text in EXAMPLES])
    model = LinearSVC(C=1.0, class_weight="balanced", random_state=0).fit(
        matrix, [label for label, _ in EXAMPLES], sample_weight=[3.0] * len(EXAMPLES)
    )
    for text in ["my parcel is broken", "cancel it", "hello, my parcel (zzz)", "thanks!"]:
        expected = dict(zip(model.classes_, model.decision_function(views.transform([text]))[0], strict=True))
        got = classifier.decision(text)
        assert got.keys() == expected.keys()
        assert np.allclose([got[k] for k in expected], list(expected.values()))


def test_a_message_with_no_known_word_has_no_decision_and_scores_for_the_unknown_label() -> None:
    """Letter sequences alone are no evidence: "[31mred" shares "red" with "delivered"."""
    classifier = IntentClassifier([*EXAMPLES, ("complaint", "it was never delivered")], unknown="other")
    assert classifier.decision("[31mred") is None
    assert classifier.scores("[31mred") == [("other", 100.0)]
    assert classifier.scores("parcle never arived")[0][0] == "complaint"  # typos of known words are known


def test_two_labels_score_both() -> None:
    classifier = IntentClassifier(EXAMPLES[:5])
    ranked = dict(classifier.scores("my parcel never came"))
    assert set(ranked) == {"complaint", "cancellation"}
    assert ranked["complaint"] > ranked["cancellation"]
    assert sum(ranked.values()) == pytest.approx(100, abs=0.2)


@pytest.fixture(scope="module")
def flows() -> list:
    registry = FlowRegistry(FLOWS)
    registry.load()
    return registry.all()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Worded unlike any example phrase of the flows: the corpus taught these.
        ("i ordered 3 shirts and only got 2", "complaint"),
        ("the yoghurt was out of date when it arrived", "complaint"),
        ("been on hold for an hour and nobody picks up", "complaint"),
        ("please hand me over to one of your staff", "human"),
        ("no more promo emails please, keep my account", "opt_out"),
        ("how late are you open on saturdays", None),
    ],
)
def test_the_shipped_corpus_teaches_how_customers_word_things(flows: list, text: str, expected: str | None) -> None:
    understanding = build_understanding(ConversationSettings(), IntentSettings(), flows)
    assert understanding.understand(text).result == expected


def test_a_message_no_intent_fits_starts_nothing(flows: list) -> None:
    """Every decision value is low: "nothing fits" (a fixed value, under the label of questions no flow answers)
    takes enough of the score that no intent reaches the threshold."""
    understanding = build_understanding(ConversationSettings(), IntentSettings(), flows)
    for text in ["what is the weather on mars", "the spectral flux of saturn's rings"]:
        verdict = understanding.understand(text)
        assert (verdict.kind, verdict.small_talk) == ("none", False), (text, verdict)


def test_corpus_messages_of_a_flow_not_in_force_start_nothing(flows: list) -> None:
    without_tips = [lf for lf in flows if lf.id != "value_tips"]
    understanding = build_understanding(ConversationSettings(), IntentSettings(), without_tips)
    verdict = understanding.understand("any tricks to get more out of the app?")
    assert verdict.kind == "none"
    assert "value_tips" not in {m.name for m in verdict.candidates}


def test_a_corpus_file_of_your_own_is_read_relative_to_the_config(tmp_path: Path, flows: list) -> None:
    (tmp_path / "ours.tsv").write_text("text\texpected\nwhere is my gnome statue\tcomplaint\n", encoding="utf-8")
    (tmp_path / "config.yaml").write_text("intents:\n  corpus: [builtin, ours.tsv]\n", encoding="utf-8")
    settings = load_settings(tmp_path / "config.yaml", {})
    assert settings.intents.corpus == ("builtin", str(tmp_path / "ours.tsv"))
    assert ("complaint", "where is my gnome statue") in read_corpus(settings.intents.corpus[1])
    understanding = build_understanding(settings.conversation, settings.intents, flows)
    assert understanding.understand("where is my gnome statue").result == "complaint"


def test_a_missing_corpus_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("intents:\n  corpus: [missing.tsv]\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"missing\.tsv: no such file"):
        load_settings(tmp_path / "config.yaml", {})
