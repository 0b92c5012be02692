"""The `engagebot` command, run from a fresh working directory: in this process as a shell runs it
(tests/support/cli.py), and piped chat in a real process too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import IntentSettings
from tests.conftest import REPO, STARTER_FLOWS
from tests.support.cli import engagebot

PROBLEM_LINE = re.compile(r"^(?P<path>.+):(?P<line>\d+): (?P<message>.+)$")


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """What an admin has after a checkout: the starter flows in ./flows, no config, no database yet."""
    shutil.copytree(STARTER_FLOWS, tmp_path / "flows")
    return tmp_path


def engagebot_process(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`engagebot` in a process of its own, its stdin a pipe."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith(("ENGAGEBOT_", "TELEGRAM_", "SLACK_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


# ---- flows ----------------------------------------------------------------------------------------


def test_flows_check_passes_on_the_starter_flows(workdir: Path) -> None:
    result = engagebot(workdir, "flows", "check")
    assert result.returncode == 0, result.stdout + result.stderr
    starter = sorted(p.stem for p in STARTER_FLOWS.glob("*.yaml"))
    assert f"{len(starter)} flows OK: {', '.join(starter)}" in result.stdout


def test_flows_check_reports_each_problem_as_path_line_message_and_exits_1(workdir: Path) -> None:
    bad = workdir / "bad_flows"
    shutil.copytree(STARTER_FLOWS, bad)
    (bad / "nps.yaml").write_text(
        (bad / "nps.yaml").read_text(encoding="utf-8").replace("expect: nps", "exepct: nps", 1), encoding="utf-8"
    )
    (bad / "broken.yaml").write_text("flow: broken\nsteps:\n  - sya: hello\n", encoding="utf-8")

    result = engagebot(workdir, "flows", "check", "bad_flows")
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines and all(PROBLEM_LINE.match(line) for line in lines), lines
    assert f"{Path('bad_flows') / 'broken.yaml'}:3: this step needs one of:" in result.stdout
    assert 'unknown key "exepct" (did you mean "expect"?)' in result.stdout
    nps_line = next(line for line in lines if "exepct" in line)
    expected_line = (bad / "nps.yaml").read_text(encoding="utf-8").splitlines().index("    exepct: nps") + 1
    assert PROBLEM_LINE.match(nps_line)["line"] == str(expected_line)  # type: ignore[index]


GIFT_FLOW = """\
flow: gift
triggers:
  - command: /gift
steps:
  - say: Thanks for being with us!
  - id: give
    action: give_reward
    pool: sory
  - end: true
"""


def test_flows_check_names_a_give_reward_pool_the_settings_do_not_have(workdir: Path) -> None:
    (workdir / "flows" / "gift.yaml").write_text(GIFT_FLOW, encoding="utf-8")
    config = workdir / "config.yaml"
    config.write_text("rewards:\n  pools:\n    sorry: {}\n    welcome: {template: 'W-{random:8}'}\n", encoding="utf-8")

    result = engagebot(workdir, "flows", "check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        f'{workdir / "flows" / "gift.yaml"}:8: flow "gift", step "give": unknown reward pool "sory" '
        '(did you mean "sorry"?); rewards.pools has: sorry, welcome'
    ]
    (workdir / "flows" / "gift.yaml").write_text(GIFT_FLOW.replace("pool: sory", "pool: sorry"), encoding="utf-8")
    assert engagebot(workdir, "flows", "check").returncode == 0

    config.write_text("rewards:\n  pols: {}\n", encoding="utf-8")  # a config with problems: pools unknown, not absent
    unchecked = engagebot(workdir, "flows", "check", "flows")
    assert unchecked.returncode == 0, unchecked.stdout
    assert "warning: reward pools not checked (the configuration does not load)" in unchecked.stdout


def test_flows_graph_prints_a_mermaid_diagram(workdir: Path) -> None:
    result = engagebot(workdir, "flows", "graph", "nps")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flowchart TD")
    assert "How likely are you to recommend" in result.stdout


def test_flows_graph_of_an_unknown_flow_lists_the_known_ones(workdir: Path) -> None:
    result = engagebot(workdir, "flows", "graph", "npss")
    assert result.returncode == 1
    assert "unknown flow 'npss'" in result.stderr and "nps" in result.stderr


# ---- chat, tickets, intents -----------------------------------------------------------------------


def test_chat_piped_runs_an_nps_survey(workdir: Path) -> None:
    result = engagebot_process(workdir, "chat", stdin="hi\n/nps\n9\ngreat service\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "bot: Hi there, welcome to our service" in out
    assert "bot: How likely are you to recommend our service to a friend or colleague?\n" in out
    assert "     0 = not likely at all, 10 = very likely\n" in out  # the scale's ends, above its buttons
    assert "[0]  [1]  [2]" in out and "[10]" in out  # the buttons, as typed labels
    assert "bot: Thank you for your feedback." in out
    assert out.index("welcome") < out.index("How likely") < out.index("Thank you for your feedback")
    assert (workdir / "engagebot.db").is_file()  # the default database, in the working directory


def test_a_complaint_in_chat_shows_up_in_tickets_list(workdir: Path) -> None:
    empty = engagebot(workdir, "tickets", "list")
    assert (empty.returncode, empty.stdout.strip()) == (0, "no open tickets")

    complaint = "\n".join(["/complain", "My parcel never arrived", "Order & delivery", "Skip", "Quite a lot", ""])
    chat = engagebot(workdir, "chat", stdin=complaint)
    assert chat.returncode == 0, chat.stderr
    assert "Your reference is C-1001." in chat.stdout

    listed = engagebot(workdir, "tickets", "list")
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("C-")]
    assert row.split()[:5] == ["C-1001", "open", "complaint", "delivery", "normal"]
    assert row.endswith("My parcel never arrived")

    shown = engagebot(workdir, "tickets", "show", "C-1001")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("C-1001  open  complaint/delivery  severity normal")


def test_a_first_message_complaint_in_chat_is_taken_at_once_and_ends_in_a_ticket(workdir: Path) -> None:
    typed = ["I want to complain, my order hasn't arrived", "It was due on Monday", "the first one", "skip",
             "quite a lot", ""]  # fmt: skip
    chat = engagebot(workdir, "chat", stdin="\n".join(typed))
    assert chat.returncode == 0, chat.stderr
    lines = chat.stdout.splitlines()
    # One message: the welcome opens it, the answer follows a blank line, indented under it.
    assert lines[:2] == ["bot: Hi there, welcome to our service.", ""]
    assert lines[2].startswith("     I'm sorry something has gone wrong.")
    assert "what will you mainly use us for" not in chat.stdout
    assert "Your reference is C-1001." in chat.stdout
    listed = engagebot(workdir, "tickets", "list")
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith("C-")]
    assert row.split()[:4] == ["C-1001", "open", "complaint", "delivery"]


def test_intents_explain_ranks_the_complaint_flow_first(workdir: Path) -> None:
    result = engagebot(workdir, "intents", "explain", "I want to complain")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:] if re.match(r"^\s*\d+\.\d ", line)]
    assert rows, result.stdout
    score, flow = float(rows[0][0]), rows[0][1]
    assert flow == "complaint"
    assert score >= IntentSettings().interrupt_threshold  # a complaint can interrupt a survey
    assert "would interrupt a flow" in result.stdout.splitlines()[1]


# ---- configuration --------------------------------------------------------------------------------


def test_a_bad_config_stops_with_file_line_and_exit_2(workdir: Path) -> None:
    (workdir / "bad.yaml").write_text("business:\n  name: Acme\n  timezon: UTC\n", encoding="utf-8")
    result = engagebot(workdir, "--config", "bad.yaml", "tickets", "list")
    assert result.returncode == 2
    assert "the configuration is not valid" in result.stderr
    assert 'bad.yaml:3: unknown key "timezon" (did you mean "timezone"?)' in result.stderr
    assert not (workdir / "engagebot.db").exists()


def test_settings_come_from_a_dotenv_file_in_the_working_directory(workdir: Path) -> None:
    (workdir / ".env").write_text("DATABASE_URL=sqlite:///from_dotenv.db\n", encoding="utf-8")
    result = engagebot(workdir, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("database sqlite:///from_dotenv.db is at revision ")
    assert (workdir / "from_dotenv.db").is_file()
    assert not (workdir / "engagebot.db").exists()
