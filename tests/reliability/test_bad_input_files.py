"""Admins' files, mangled: random YAML documents and random edits of the starter flows and of config.yaml.

Whatever an admin saves, the answer is either "valid" or a list of problems that each name the file and a line
(`path:line: message`); never another exception, which would stop `engagebot run` or hot reload with a traceback.
`engagebot flows check` says the same on the command line (exit 0, or 1 with those lines).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import load_settings
from bot.conversations.loader import parse_flow
from bot.yamlsource import SourceError
from tests.conftest import REPO, STARTER_FLOWS

FLOWS = {path.name: path.read_text(encoding="utf-8") for path in sorted(STARTER_FLOWS.glob("*.yaml"))}
CONFIG = (REPO / "config.yaml").read_text(encoding="utf-8")
EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Scalars, including the ones YAML reads as something else (dates, booleans, nulls, numbers in odd forms).
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=30),
    st.sampled_from(["yes", "no", "~", "2026-03-01", "1e400", "0x1F", ".inf", "{{ 7*7 }}", "{% for %}", "&a", "*a"]),
)  # fmt: skip
KNOWN_KEYS = ["flow", "steps", "id", "ask", "say", "goto", "triggers", "outreach", "telegram", "staff", "routing",
              "campaigns"]  # fmt: skip
keys = st.one_of(st.text(max_size=12), st.sampled_from(KNOWN_KEYS))
documents = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
                         max_leaves=20)  # fmt: skip
raw_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@st.composite
def edited(draw: st.DrawFn, source: str) -> str:
    """`source` after a few edits an admin could make by mistake: lines deleted, repeated, swapped, re-indented, or
    a piece of a line replaced."""
    lines = source.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["delete", "repeat", "swap", "indent", "dedent", "replace", "insert"]))
        if edit == "delete":
            del lines[at]
        elif edit == "repeat":
            lines.insert(at, lines[at])
        elif edit == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        elif edit == "indent":
            lines[at] = "  " + lines[at]
        elif edit == "dedent":
            lines[at] = lines[at].lstrip()
        elif edit == "replace" and lines[at]:
            start = draw(st.integers(0, len(lines[at]) - 1))
            lines[at] = lines[at][:start] + draw(raw_text.map(lambda t: t[:20])) + lines[at][start + 3 :]
        else:
            lines.insert(at, draw(raw_text.map(lambda t: t.replace("\n", " ")[:40])))
    return "\n".join(lines) + "\n"


def flow_sources() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(sorted(FLOWS)).flatmap(lambda name: edited(FLOWS[name])),
        documents.map(lambda doc: json.dumps(doc)),  # JSON is YAML
        raw_text,
    )


def assert_problems_name_file_and_line(exc: SourceError, path: str) -> None:
    assert exc.problems, "a refusal must say why"
    for problem in exc.problems:
        assert problem.path == path and problem.line >= 1 and problem.message.strip(), problem
        assert str(problem).startswith(f"{path}:{problem.line}: ")


@EXAMPLES
@given(source=flow_sources())
def test_any_flow_file_is_accepted_or_refused_with_file_line_problems(source: str) -> None:
    try:
        loaded = parse_flow(source, "flows/edited.yaml")
    except SourceError as exc:
        assert_problems_name_file_and_line(exc, "flows/edited.yaml")
    else:
        assert loaded.flow.flow and loaded.flow.steps


def config_sources() -> st.SearchStrategy[str]:
    return st.one_of(edited(CONFIG), documents.map(lambda doc: json.dumps(doc)), raw_text)


@EXAMPLES
@given(source=config_sources())
def test_any_config_file_gives_settings_or_file_line_problems(tmp_path: Path, source: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(source, encoding="utf-8")
    try:
        settings = load_settings(path, env={})
    except SourceError as exc:
        assert_problems_name_file_and_line(exc, str(path))
    else:
        assert settings.source == str(path)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sources=st.lists(st.sampled_from(sorted(FLOWS)).flatmap(lambda name: edited(FLOWS[name])), min_size=3,
                        max_size=3))  # fmt: skip
def test_flows_check_on_edited_starter_flows_exits_0_or_1_with_file_line_lines(
    tmp_path_factory: object, sources: list[str]
) -> None:
    folder = Path(tmp_path_factory.mktemp("flows"))  # type: ignore[attr-defined]
    for name, text in FLOWS.items():
        (folder / name).write_text(text, encoding="utf-8")
    for n, text in enumerate(sources):  # three starter flows replaced by edited copies
        (folder / sorted(FLOWS)[n * 2]).write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "flows", "check", str(folder)], capture_output=True, text=True,
        cwd=folder, timeout=60, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.stderr == "", done.stderr
    lines = done.stdout.splitlines()
    if done.returncode == 0:
        assert len(lines) == 1 and lines[0].startswith(f"{len(FLOWS)} flows OK"), done.stdout
    else:
        assert done.returncode == 1 and lines, done.stdout
        assert all(re.match(rf"{re.escape(str(folder))}/[^:]+\.yaml:\d+: \S", line) for line in lines), done.stdout
