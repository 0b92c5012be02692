"""The flow language's validation: what an admin sees when a flow file is wrong (file:line, did-you-mean)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.conversations.loader import check_directory, parse_flow, parse_flow_file
from bot.yamlsource import Problem, SourceError
from tests.conftest import STARTER_FLOWS

PATH = "flows/demo.yaml"
PROBLEM_LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+): (?P<message>.+)$")


def problems_of(source: str, path: str = PATH) -> list[Problem]:
    with pytest.raises(SourceError) as caught:
        parse_flow(source, path)
    assert caught.value.problems, "a refused flow must say why"
    return caught.value.problems


def write(directory: Path, name: str, source: str) -> Path:
    path = directory / name
    path.write_text(source, encoding="utf-8")
    return path


# ---- the starter flows ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(STARTER_FLOWS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_starter_flow_is_valid_on_its_own(path: Path) -> None:
    loaded = parse_flow_file(path)
    assert loaded.id == path.stem  # one flow per file, named after it
    assert loaded.flow.steps


def test_the_starter_flows_are_valid_together() -> None:
    found, problems = check_directory(STARTER_FLOWS)
    assert [str(p) for p in problems] == []
    assert set(found) == {p.stem for p in STARTER_FLOWS.glob("*.yaml")}


def test_a_small_flow_using_every_step_kind_loads() -> None:
    """The positive control for the table below: valid YAML of each kind is accepted."""
    source = """\
flow: demo
triggers:
  - command: /demo
  - menu: Demo
  - intent: [show me the demo, demo please]
  - event: signed_up
steps:
  - say: Hello {{ customer.first_name or "there" }}
    buttons:
      - {label: Menu, action: menu}
  - id: score
    ask: How many?
    expect: number
    min: 1
    max: 10
  - id: pick
    ask: Which one?
    expect: choice
    choices: [Red, Blue]
  - set:
      note: "{{ answers.pick }}"
  - action: tag
    tag: demo
  - wait: 1d12h
  - branch:
      - when: answers.score > 5
        goto: big
    else: small
  - id: big
    goto: done
  - id: small
    say: Small it is.
  - id: done
    end: Bye!
"""
    loaded = parse_flow(source, PATH)
    assert loaded.id == "demo"
    assert len(loaded.flow.steps) == 10


# ---- one file at a time ---------------------------------------------------------------------------

INVALID_FLOWS = [
    pytest.param(
        "flow: demo\nsteps:\n  - id: q\n    ask: How was it?\n    exepct: rating\n",
        5, 'unknown key "exepct" (did you mean "expect"?)',
        id="misspelled key",
    ),
    pytest.param(
        "flow: demo\ntitel: Demo\nsteps:\n  - say: hi\n",
        2, 'unknown key "titel" (did you mean "title"?)',
        id="misspelled top-level key",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n    ask: there\n",
        4, '"ask" does not belong in steps.0',
        id="two kinds in one step",
    ),
    pytest.param(
        "flow: demo\ninterrupts: maybe\nsteps:\n  - say: hi\n",
        2, "interrupts: Input should be a valid boolean",
        id="wrong type: boolean",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: q\n    ask: How?\n    retries: lots\n",
        5, "steps.0.retries: Input should be a valid integer",
        id="wrong type: integer",
    ),
    pytest.param(
        "flow: demo\nsteps: hello\n",
        2, "steps: Input should be a valid list",
        id="wrong type: list",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: q\n    ask: How was it?\n    expect: rateing\n",
        5, "'rateing' is not one of text, choice, yes_no, rating, nps, number, email, phone, date, media"
        ' (did you mean "rating"?)',
        id="misspelled expect",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - action: open_tiket\n",
        3, "'open_tiket' is not one of open_ticket, handoff", id="misspelled action",
    ),
    pytest.param(
        "version: 2\nflow: demo\nsteps:\n  - say: hi\n",
        1, "version: 2 is not one of 1", id="unknown language version",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n  - sya: hello\n",
        4, 'this step needs one of: say, ask, branch, goto, set, action, wait, end (did you mean "say"?)',
        id="step without a kind",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n  - id: bye\n    zzz: true\n",
        4, "this step needs one of: say, ask, branch, goto, set, action, wait, end",
        id="step without a kind, nothing close",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n  - hello\n",
        4, "each entry of steps must be a mapping", id="step that is not a mapping",
    ),
    pytest.param(
        "flow: demo\ntriggers:\n  - comand: /demo\nsteps:\n  - say: hi\n",
        3, 'this trigger needs one of: command, intent, menu, event (did you mean "command"?)',
        id="trigger without a kind",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: a\n    say: one\n  - id: a\n    say: two\n",
        5, 'duplicate step id "a" (first at step 1)', id="duplicate step id",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n  - goto: finsh\n  - id: finish\n    end: true\n",
        4, 'unknown step "finsh" (did you mean "finish"?)', id="goto to an unknown step",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n    next: finsh\n  - id: finish\n    end: true\n",
        4, 'unknown step "finsh" (did you mean "finish"?)', id="next to an unknown step",
    ),
    pytest.param(
        "flow: demo\nsteps:\n"
        "  - id: q\n    ask: OK?\n    expect: yes_no\n"
        "  - branch:\n      - when: answers.q\n        goto: yess\n    else: nope\n"
        "  - id: 'yes'\n    end: Good.\n"
        "  - id: nope\n    end: Pity.\n",
        8, 'unknown step "yess" (did you mean "yes"?)', id="branch to an unknown step",
    ),
    pytest.param(
        "flow: demo\nsteps:\n"
        "  - id: q\n    ask: OK?\n    expect: yes_no\n"
        "  - branch:\n      - when: answers.q\n        goto: done\n    else: dne\n"
        "  - id: done\n    end: true\n",
        9, 'unknown step "dne" (did you mean "done"?)', id="else to an unknown step",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n  - end: true\n  - id: orphan\n    say: Nobody comes here.\n",
        5, 'step "orphan" can never be reached', id="unreachable step",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: a\n    say: hi\n  - goto: a\n  - say: after the loop\n",
        6, "step 3 can never be reached", id="unreachable step without an id",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: Hello {{ customer.first_name\n",
        3, "template error: unexpected end of template", id="template error in say",
    ),
    pytest.param(
        'flow: demo\nsteps:\n  - say: hi\n  - ask: "How {% if x %}was it?"\n',
        4, "template error: Unexpected end of template", id="template error in ask",
    ),
    pytest.param(
        'flow: demo\nsteps:\n  - end: "Bye {{ name "\n',
        3, "template error:", id="template error in end",
    ),
    pytest.param(
        "flow: demo\nsteps:\n"
        "  - id: q\n    ask: OK?\n    expect: yes_no\n"
        "  - branch:\n      - when: answers.q ==\n        goto: done\n"
        "  - id: done\n    end: true\n",
        7, "condition error:", id="branch condition syntax error",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n  - wait: 3 days\n",
        4, "bad duration '3 days': use a number with w, d, h, m or s", id="wait in words",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n  - wait: 0d\n",
        4, "bad duration '0d': it must be longer than zero", id="wait of zero",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n  - wait: abc\n",
        4, "bad duration 'abc'", id="wait that is no duration",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: q\n    ask: Pick one\n    expect: choice\n    choices: [Only]\n",
        4, 'expect: choice needs a "choices" list with at least two options', id="choice with one option",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: q\n    ask: Pick one\n    expect: choice\n",
        4, 'expect: choice needs a "choices" list', id="choice without options",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: q\n    ask: Anything else?\n    choices: [a, b]\n",
        4, '"choices" only goes with expect: choice (this asks for text)', id="choices on a text question",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: q\n    ask: Rate us\n    expect: rating\n    min: 1\n",
        4, '"min" and "max" only go with expect: number', id="min on a rating",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: q\n    ask: How many?\n    expect: number\n    min: 5\n    max: 1\n",
        4, "min (5.0) is greater than max (1.0)", id="min above max",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n  - action: tag\n",
        4, "action tag needs: tag", id="tag without a tag",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - action: record_survey\n    survey: nps\n",
        3, "action record_survey needs: kind", id="survey without a kind",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - action: start_flow\n",
        3, "action start_flow needs: flow", id="start_flow without a flow",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n    buttons:\n      - label: Go\n",
        5, "a button needs exactly one of: flow, action", id="button without a target",
    ),
    pytest.param(
        "flow: demo\nsteps:\n\t- say: hi\n",
        3, "invalid YAML: found character '\\t' that cannot start any token", id="tab in the indentation",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n   next: x\n",
        4, "invalid YAML:", id="bad indentation",
    ),
    pytest.param(
        'flow: demo\nsteps:\n  - say: "hi\n  - end: true\n',
        3, "invalid YAML: found unexpected end of stream (a quote opened on this line is never closed",
        id="unclosed quote",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: |-\n    say: |-\n      two\n      lines\n",
        4, 'invalid YAML: found duplicate key "say"', id="duplicate key of a block text: still one line",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: Good news: it works\n",
        3, 'invalid YAML: mapping values are not allowed here (a text with ": " in it must be quoted: say: "Good news',
        id="unquoted colon in a text",
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - say: hi\n    say: again\n",
        4, 'invalid YAML: found duplicate key "say"', id="duplicate key",
    ),
    pytest.param(
        "flow: demo\ntitle: A\nflow: other\nsteps:\n  - say: hi\n",
        3, 'invalid YAML: found duplicate key "flow"', id="duplicate top-level key",
    ),
    pytest.param("- say: hi\n", 1, "a flow file must be a mapping with `flow:` and `steps:`", id="a list"),
    pytest.param("just some text\n", 1, "a flow file must be a mapping", id="plain text"),
    pytest.param("", 1, "a flow file must be a mapping", id="empty file"),
    pytest.param("flow: demo\n", 1, '"steps" is required here', id="no steps"),
    pytest.param("flow: demo\nsteps: []\n", 2, "steps: List should have at least 1 item", id="empty steps"),
    pytest.param("steps:\n  - say: hi\n", 1, '"flow" is required here', id="no flow id"),
    pytest.param(
        "flow: Demo Flow\nsteps:\n  - say: hi\n", 1, "flow: String should match pattern", id="flow id not a slug"
    ),
    pytest.param(
        "flow: demo\nsteps:\n  - id: 1st\n    say: hi\n", 3, "steps.0.id: String should match pattern", id="bad step id"
    ),
    pytest.param(
        "flow: demo\ntriggers:\n  - command: Demo\nsteps:\n  - say: hi\n",
        3, "command 'Demo' must look like /start (lower case letters, digits, _)", id="command without slash",
    ),
    pytest.param(
        "flow: demo\ntriggers:\n  - command: /Demo-Now\nsteps:\n  - say: hi\n",
        3, "command '/Demo-Now' must look like /start", id="command with capitals",
    ),
    pytest.param(
        "flow: demo\ntriggers:\n  - intent: []\nsteps:\n  - say: hi\n",
        3, "triggers.0.intent: List should have at least 1 item", id="intent without phrases",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("source", "line", "fragment"), INVALID_FLOWS)
def test_an_invalid_flow_is_refused_with_the_line_and_what_is_wrong(source: str, line: int, fragment: str) -> None:
    problems = problems_of(source)
    assert [(p.path, p.line) for p in problems] == [(PATH, line)], [str(p) for p in problems]
    assert fragment in problems[0].message and "\n" not in problems[0].message  # one `path:line: message` line


def test_a_problem_reads_path_line_message() -> None:
    (problem,) = problems_of("flow: demo\nsteps:\n  - id: q\n    ask: How was it?\n    exepct: rating\n")
    assert str(problem) == 'flows/demo.yaml:5: unknown key "exepct" (did you mean "expect"?)'
    match = PROBLEM_LINE.match(str(problem))
    assert match is not None
    assert (match["path"], int(match["line"]), match["message"]) == (problem.path, problem.line, problem.message)


def test_every_problem_in_a_file_is_reported_in_line_order() -> None:
    source = (
        "flow: demo\nsteps:\n"
        "  - id: a\n    say: one\n"  # 3
        "  - id: a\n    say: two\n"  # 5: duplicate
        "  - goto: nowhere\n"  # 7: unknown step
        "  - say: Hi {{ name\n"  # 8: template
    )
    problems = problems_of(source)
    assert [p.line for p in problems] == [5, 7, 8]
    assert "duplicate step id" in problems[0].message
    assert 'unknown step "nowhere"' in problems[1].message
    assert "template error" in problems[2].message


def test_windows_line_endings_and_a_byte_order_mark_keep_line_numbers_right(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_bytes("\ufeffflow: demo\r\nsteps:\r\n  - say: hi\r\n  - sya: hello\r\n".encode())
    with pytest.raises(SourceError) as caught:
        parse_flow_file(path)
    assert [(p.line, 'did you mean "say"' in p.message) for p in caught.value.problems] == [(4, True)]


def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    with pytest.raises(SourceError) as caught:
        parse_flow_file(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:1: not a UTF-8 text file"]


# ---- across files ---------------------------------------------------------------------------------

HELLO = "flow: {id}\ntriggers:\n  - menu: {id}\n  - command: /{id}\nsteps:\n  - say: Hello from {id}\n"


def test_two_files_with_the_same_flow_id(tmp_path: Path) -> None:
    first = write(tmp_path, "a_welcome.yaml", HELLO.format(id="welcome"))
    second = write(tmp_path, "b_welcome.yaml", "title: Copy\nflow: welcome\nsteps:\n  - say: A copy\n")
    found, problems = check_directory(tmp_path)
    assert [str(p) for p in problems] == [f'{second}:2: flow id "welcome" is already used by {first}']
    assert found["welcome"].path == str(first)


def test_the_same_command_in_two_flows(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", HELLO.format(id="alpha"))
    beta = write(tmp_path, "b.yaml", "flow: beta\ntriggers:\n  - menu: Beta\n  - command: /alpha\nsteps:\n  - say: b\n")
    found, problems = check_directory(tmp_path)
    assert [str(p) for p in problems] == [f"{beta}:4: command /alpha is already used by flow alpha"]
    assert sorted(found) == ["alpha"]


@pytest.mark.parametrize(
    ("steps", "line", "message"),
    [
        pytest.param(
            "  - say: Pick one\n    buttons:\n      - label: Tips\n        flow: tipps\n",
            8, 'unknown flow "tipps" (did you mean "tips"?)', id="button",
        ),
        pytest.param(
            "  - action: start_flow\n    flow: tip\n", 6, 'unknown flow "tip" (did you mean "tips"?)', id="start_flow"
        ),
        pytest.param(
            "  - action: start_flow\n    flow: refunds\n", 6, 'unknown flow "refunds"', id="nothing close"
        ),
    ],
)  # fmt: skip
def test_a_reference_to_an_unknown_flow(tmp_path: Path, steps: str, line: int, message: str) -> None:
    write(tmp_path, "tips.yaml", HELLO.format(id="tips"))
    menu = write(tmp_path, "menu.yaml", "flow: menu\ntriggers:\n  - command: /start\nsteps:\n" + steps)
    _found, problems = check_directory(tmp_path)
    assert [str(p) for p in problems] == [f"{menu}:{line}: {message}"]


def test_a_broken_file_does_not_hide_the_valid_ones(tmp_path: Path) -> None:
    write(tmp_path, "good.yaml", HELLO.format(id="good"))
    bad = write(tmp_path, "bad.yaml", "flow: bad\nsteps:\n  - sya: hi\n")
    write(tmp_path, "notes.txt", "not a flow: {{{")
    found, problems = check_directory(tmp_path)
    assert sorted(found) == ["good"]
    assert [p.path for p in problems] == [str(bad)]


def test_a_missing_flows_folder_is_reported(tmp_path: Path) -> None:
    found, problems = check_directory(tmp_path / "nope")
    assert found == {}
    assert [str(p) for p in problems] == [f"{tmp_path / 'nope'}:1: flows folder not found"]


def test_the_same_flow_text_in_two_folders_is_reported_at_each_folders_file(tmp_path: Path) -> None:
    """A valid flow's parse is kept per process by its text: each copy still carries its own path, and a broken
    copy's problems name the file they are in, each time it is read."""
    good = (STARTER_FLOWS / "nps.yaml").read_text(encoding="utf-8")
    broken = good.replace("steps:", "stepz:", 1)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        assert parse_flow_file(write(tmp_path / folder, "nps.yaml", good)).path == str(tmp_path / folder / "nps.yaml")
    for _ in range(2):
        for folder in ("a", "b"):
            path = str(tmp_path / folder / "broken.yaml")
            assert {p.path for p in problems_of(broken, path)} == {path}
