"""Intent matching: time per message against N example phrases (bot/conversations/classifier.py learned from
them, and bot/conversations/matcher.py naming the closest example, typo corrections cached as in a running bot),
next to a naive per-phrase rapidfuzz loop measured in the same run."""

from __future__ import annotations

import csv
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, utils

from bot.config import ConversationSettings, IntentSettings
from bot.conversations.classifier import IntentClassifier
from bot.conversations.matcher import IntentMatcher
from bot.conversations.registry import FlowRegistry
from bot.conversations.textmatch import fold
from bot.conversations.understanding import Understanding, build_understanding

VERBS = ["cancel", "change", "track", "return", "refund", "pay", "update", "close", "open", "upgrade",
         "downgrade", "pause", "resume", "report", "find", "fix", "delete", "share", "export", "book"]  # fmt: skip
OBJECTS = ["my order", "my subscription", "the invoice", "my account", "the delivery", "my password",
           "the app", "my plan", "a parcel", "my card", "the receipt", "my address", "a booking",
           "the photo", "my profile", "the payment", "a voucher", "the settings", "my data", "a ticket"]  # fmt: skip
QUALIFIERS = ["today", "again", "online", "quickly", "abroad", "for work", "by phone", "this week"]
PREFIXES = ["", "I want to ", "how do I ", "please ", "can you help me ", "I need to ", "help me "]


INTENTS = 50  # at most: a bot with more flows started by free text is rare; the classifier learns a line per intent


def example_phrases(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """`count` phrases spread over count/10 intents (at most INTENTS), distinct even once filler words are dropped
    (so the index really scores `count` phrases). Deterministic."""
    rng = random.Random(seed)
    folded: set[str] = set()
    out: list[tuple[str, str]] = []
    while len(out) < count:
        phrase = f"{rng.choice(PREFIXES)}{rng.choice(VERBS)} {rng.choice(OBJECTS)}".strip()
        if fold(phrase) in folded:
            phrase = f"{phrase} {QUALIFIERS[len(out) % len(QUALIFIERS)]} {len(out)}"
        if fold(phrase) not in folded:
            folded.add(fold(phrase))
            out.append((f"intent_{len(out) % max(1, min(INTENTS, count // 10))}", phrase))
    return out


def queries(count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    typos = str.maketrans({"e": "r", "o": "p"})
    out = []
    for i in range(count):
        text = f"{rng.choice(PREFIXES)}{rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        out.append(text.translate(typos) if i % 3 == 0 else text + " asap" if i % 3 == 1 else "hello there")
    return out


def naive_best(text: str, phrases: list[tuple[str, str]], cutoff: float) -> tuple[str, float] | None:
    """What people write first: score every phrase in a Python loop, processing each every time."""
    best: tuple[str, float] | None = None
    for name, phrase in phrases:
        score = fuzz.WRatio(text, phrase, processor=utils.default_process)
        if score >= cutoff and (best is None or score > best[1]):
            best = (name, score)
    return best


def _per_message_ms(fn: Any, items: list[str]) -> float:
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        for text in items:
            fn(text)
        runs.append((time.perf_counter() - started) * 1000 / len(items))
    return statistics.median(runs)


def run(sizes: tuple[int, ...] = (100, 1000, 10000), messages: int = 300) -> list[dict[str, Any]]:
    results = []
    texts = queries(messages)
    for size in sizes:
        phrases = example_phrases(size)
        started = time.perf_counter()
        matcher = IntentMatcher(phrases)
        classifier = IntentClassifier(phrases, unknown="other")
        build_ms = (time.perf_counter() - started) * 1000

        def both(text: str, matcher: IntentMatcher = matcher, classifier: IntentClassifier = classifier) -> None:
            classifier.scores(text)
            matcher.rank(text)

        ours = _per_message_ms(both, texts)
        naive = _per_message_ms(lambda t, phrases=phrases: naive_best(t, phrases, 82), texts[: max(30, messages // 10)])
        results.append({
            "phrases": size, "index_build_ms": round(build_ms, 2), "engagebot_ms_per_message": round(ours, 4),
            "naive_loop_ms_per_message": round(naive, 4), "speedup_vs_naive": round(naive / ours, 1),
        })  # fmt: skip
    return results


# ---- thresholds: the trade-off behind config.yaml `intents` (docs/understanding.md) ----------------------------

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "intents"
INTERRUPTING = ("complaint", "human", "opt_out", "stop")


def _understanding(**intents: float) -> Understanding:
    registry = FlowRegistry(Path(__file__).resolve().parents[1] / "flows")
    registry.load()
    return build_understanding(ConversationSettings(), IntentSettings(**intents), registry.all())


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _routed(understanding: Understanding, text: str) -> str:
    verdict = understanding.understand(text)
    result = verdict.result if verdict.kind in ("global", "intent") else verdict.kind
    return "stop" if result == "opt_out" else result or "none"


def routing_tradeoff(
    thresholds: tuple[float, ...] = (20, 25, 30, 35, 40, 45, 50, 55, 60), ask_margin: float | None = None
) -> list[dict[str, Any]]:
    """The labelled set routed with no flow waiting: accuracy, and small talk that would start something."""
    rows = _rows("phrasings.tsv")
    out = []
    for threshold in thresholds:
        margin = {} if ask_margin is None else {"ask_margin": ask_margin}
        understanding = _understanding(threshold=threshold, **margin)
        got = [(row["expected"].replace("opt_out", "stop"), _routed(understanding, row["text"])) for row in rows]
        out.append({
            "threshold": threshold, "accuracy_pct": round(100 * sum(e == g for e, g in got) / len(got), 1),
            "small_talk_started_something": sum(e == "none" and g not in ("none", "ask") for e, g in got),
            "asked": sum(g == "ask" for _, g in got),
        })  # fmt: skip
    return out


def interrupt_tradeoff(thresholds: tuple[float, ...] = (30, 40, 50, 60, 70, 80, 85, 90, 95)) -> list[dict[str, Any]]:
    """With a question open: how many complaints, requests for a person and stops (phrasings.tsv) interrupt it,
    against how many answers (answers.tsv: each a valid answer to its question) would be taken for one."""
    understanding = _understanding()
    interrupting = [row["text"] for row in _rows("phrasings.tsv") if row["expected"] in INTERRUPTING]
    answers = _rows("answers.tsv")

    def best(text: str, free_text: bool) -> float:
        allowed = understanding.urgent if free_text else understanding.interrupting
        return max((m.score for m in understanding.rank(text) if m.name in allowed), default=0.0)

    out = []
    for threshold in thresholds:
        caught = sum(best(text, False) >= threshold for text in interrupting)
        closed = [a for a in answers if a["expect"] != "text"]
        free = [a for a in answers if a["expect"] == "text"]
        out.append({
            "score": threshold, "interrupts_pct": round(100 * caught / len(interrupting), 1),
            "closed_answers_taken_for_one": sum(best(a["text"], False) >= threshold for a in closed),
            "of_closed": len(closed),
            "free_text_answers_taken_for_one": sum(best(a["text"], True) >= threshold for a in free),
            "of_free_text": len(free),
        })  # fmt: skip
    return out


if __name__ == "__main__":
    if "--thresholds" in sys.argv:
        for row in routing_tradeoff():
            print(row)
        for margin in (0, 5, 10, 20, 30):
            print({"ask_margin": margin, **routing_tradeoff((40,), margin)[0]})
        for row in interrupt_tradeoff():
            print(row)
    else:
        for row in run():
            print(row)
