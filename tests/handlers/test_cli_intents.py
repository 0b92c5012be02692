"""`engagebot intents explain|test|unmatched` and the intent warnings of `flows check`, run as a shell runs
it (tests/support/cli.py) from a fresh working directory with the starter flows."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO, STARTER_FLOWS
from tests.handlers.test_cli import PROBLEM_LINE, engagebot

LABELLED = REPO / "tests" / "data" / "intents" / "phrasings.tsv"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copytree(STARTER_FLOWS, tmp_path / "flows")
    return tmp_path


@pytest.mark.parametrize(
    ("text", "kind", "result"),
    [
        ("my order never arrived", "intent", "complaint"),
        ("let me talk to someone", "global", "human"),
        ("stop", "global", "stop"),
        ("stop sending me messages", "intent", "opt_out"),
        ("👍", "none", None),
    ],
)
def test_explain_json_prints_one_object_with_result_kind_and_candidates(
    workdir: Path, text: str, kind: str, result: str | None
) -> None:
    run = engagebot(workdir, "intents", "explain", text, "--json")
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)  # exactly one JSON object: anything else on stdout fails here
    assert (data["kind"], data["result"]) == (kind, result)
    assert isinstance(data["candidates"], list)
    for candidate in data["candidates"]:
        assert set(candidate) >= {"name", "phrase", "score"} and 0 <= candidate["score"] <= 100
    if result is not None:
        assert data["candidates"][0]["name"] in (result, "opt_out")


def test_explain_table_shows_the_scores_the_verdict_and_the_thresholds(workdir: Path) -> None:
    run = engagebot(workdir, "intents", "explain", "the blender arrived damaged")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["score", "flow", "example", "phrase"]
    assert re.match(r"^\s*\d+\.\d  complaint .*<- would interrupt a flow$", lines[1]), lines
    assert "verdict: intent: complaint" in run.stdout
    assert "threshold 40, interrupt threshold 50" in run.stdout


def test_intents_test_prints_accuracy_per_intent_confusion_and_misses_and_exits_by_min(workdir: Path) -> None:
    run = engagebot(workdir, "intents", "test", str(LABELLED), "--min", "90")
    assert run.returncode == 0, run.stdout + run.stderr
    found = re.search(r"^accuracy: (\d+\.\d)% \((\d+)/(\d+)\)$", run.stdout, re.M)
    assert found is not None and float(found.group(1)) >= 90, run.stdout
    assert re.search(r"^complaint\s+\d+/\d+\s+\d+\.\d%$", run.stdout, re.M)
    assert "confusion (rows: expected, columns: routed to)" in run.stdout

    strict = engagebot(workdir, "intents", "test", str(LABELLED), "--min", "100")
    assert strict.returncode == 1
    assert "is below --min 100%" in strict.stderr
    assert re.search(r"^  .*phrasings\.tsv:\d+: expected \w+, got \w+: ", strict.stdout, re.M)


def test_intents_test_refuses_a_file_without_the_columns(workdir: Path) -> None:
    (workdir / "bad.tsv").write_text("phrase,label\nhello,none\n", encoding="utf-8")
    run = engagebot(workdir, "intents", "test", "bad.tsv")
    assert run.returncode == 2
    assert "bad.tsv:1: the header must name the columns `text` and `expected`" in run.stderr


def test_intents_test_warns_about_an_unknown_expected_name(workdir: Path) -> None:
    (workdir / "set.tsv").write_text("text\texpected\nmy order never arrived\tcomplaints\n", encoding="utf-8")
    run = engagebot(workdir, "intents", "test", "set.tsv")
    assert "set.tsv:2: warning: unknown expected 'complaints'" in run.stderr
    assert "accuracy: 0.0% (0/1)" in run.stdout


def test_unmatched_lists_what_customers_wrote_grouped_with_counts(workdir: Path) -> None:
    chat = engagebot(
        workdir, "chat", stdin="cancel\ndo you have parking\nDo you have parking??\nwhat is the weather on mars\nhi\n"
    )
    assert chat.returncode == 0, chat.stderr
    run = engagebot(workdir, "intents", "unmatched")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["count", "last", "messages"]
    assert re.match(r"^\s+2  \d{4}-\d\d-\d\d \d\d:\d\d  'Do you have parking\?\?' \| 'do you have parking'$", lines[1])
    assert re.match(r"^\s+1  .*'what is the weather on mars'$", lines[2]), lines
    assert len(lines) == 3  # "hi" is small talk, not unmatched

    later = engagebot(workdir, "intents", "unmatched", "--since", "2999-01-01")
    assert later.stdout.strip() == "no unmatched messages since 2999-01-01"


def test_flows_check_warns_about_clashing_phrases_and_still_exits_0(workdir: Path) -> None:
    tips = workdir / "flows" / "value_tips.yaml"
    source = tips.read_text(encoding="utf-8")
    added = "      - any tips for me\n      - my order never arrived\n      - unsubscribe\n      - Just for me\n"
    tips.write_text(source.replace("      - any tips for me\n", added, 1), encoding="utf-8")
    run = engagebot(workdir, "flows", "check")
    assert run.returncode == 0, run.stdout + run.stderr
    warnings = [line for line in run.stdout.splitlines() if ": warning: " in line]
    assert warnings and all(PROBLEM_LINE.match(line) for line in warnings), warnings
    text = "\n".join(warnings)
    assert 'intent phrase "my order never arrived" of value_tips is closer to complaint' in text
    assert 'intent phrase "unsubscribe" is the global word "stop"' in text
    assert 'intent phrase "Just for me" is also the choice "just for me" of onboarding' in text
    assert run.stdout.splitlines()[-1].startswith(f"{len(list(STARTER_FLOWS.glob('*.yaml')))} flows OK")
