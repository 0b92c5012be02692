"""What a new user meets in the first hour, in a fresh folder: the `engagebot` command in a subprocess where the process
itself is the point (`run`, its banner and Ctrl-C, a terminal, a pipe, what reaches stderr), else in this process as a
shell runs it (tests/support/cli.py).

Every failure a user can cause is one `engagebot: ...` line with exit 2 and no traceback; `engagebot run` serves the
embedded defaults in an empty folder and checks the database and the port before its banner; Ctrl-C ends `run` and
`chat` cleanly; `engagebot init` writes a copy of the defaults to edit."""

from __future__ import annotations

import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_ADMIN_URL, REPO, STARTER_FLOWS
from tests.support.cli import Completed
from tests.support.cli import engagebot as run_in_process

PASSWORD = "s3cret-pw"


def environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "DATABASE_URL" and not k.startswith(("ENGAGEBOT_", "TELEGRAM_", "SLACK_"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return {**env, **extra}


def engagebot(cwd: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    """`engagebot` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "handlers.cli", *args],
        cwd=cwd, env=environment(**env), input=stdin, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


def here(cwd: Path, *args: str, stdin: str = "", **env: str) -> Completed:
    """`engagebot` in this process: the same command line, streams and exit code."""
    return run_in_process(cwd, *args, stdin=stdin, env=env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_port() -> str:
    return str(free_port())  # nothing listens there


def assert_one_clear_line(result: subprocess.CompletedProcess[str] | Completed, *expected: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("engagebot: "), result.stderr
    for part in expected:
        assert part in result.stderr, result.stderr


# ---- database errors: one or two lines from every command ---------------------------------------------------------

BAD_DATABASES = [
    pytest.param("notaurl", ["DATABASE_URL: not a database URL"], id="not a URL"),
    pytest.param(f"mysql://bot:{PASSWORD}@localhost/shop", ["mysql is not supported"], id="mysql"),
    pytest.param(
        "sqlite+aiosqlite:///{tmp}/missing/folder/engagebot.db",
        ["missing/folder", "does not exist"],
        id="sqlite in a missing folder",
    ),
    pytest.param(
        f"postgresql://bot:{PASSWORD}@127.0.0.1:{{port}}/shop",
        ["cannot reach the PostgreSQL server", "is it running?"],
        id="postgresql down",
    ),
    pytest.param(
        POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/engagebot_no_such_database",
        ['database "engagebot_no_such_database" does not exist', "createdb"],
        id="postgresql database missing",
        marks=pytest.mark.postgres,
    ),
]
COMMANDS = [["tickets", "list"], ["db", "upgrade"], ["chat"], ["customers", "show", "ext:C-1"], ["surveys", "report"]]


@pytest.mark.parametrize(("url", "expected"), BAD_DATABASES)
def test_a_database_that_cannot_be_used_is_one_line_from_every_command(
    tmp_path: Path, url: str, expected: list[str]
) -> None:
    url = url.format(tmp=tmp_path, port=unreachable_port())
    # The first command as a real process (nothing else reaches its stderr, at exit either), the others in this one.
    for run, command in zip([engagebot] + [here] * (len(COMMANDS) - 1), COMMANDS, strict=True):
        result = run(tmp_path, *command, stdin="hi\n", DATABASE_URL=url)
        assert_one_clear_line(result, *expected)


@pytest.mark.parametrize(("url", "expected"), BAD_DATABASES)
def test_run_checks_the_database_before_its_banner(tmp_path: Path, url: str, expected: list[str]) -> None:
    url = url.format(tmp=tmp_path, port=unreachable_port())
    result = engagebot(tmp_path, "run", DATABASE_URL=url, ENGAGEBOT_PORT=str(free_port()))
    assert_one_clear_line(result, *expected)
    assert result.stdout == ""  # no banner: nothing was served


def test_a_database_that_fails_after_the_start_is_one_line_too(tmp_path: Path) -> None:
    assert engagebot(tmp_path, "db", "upgrade").returncode == 0
    read_only = f"sqlite+aiosqlite:///file:{tmp_path / 'engagebot.db'}?mode=ro&uri=true"
    result = engagebot(tmp_path, "chat", stdin="hi\n", DATABASE_URL=read_only)
    assert_one_clear_line(result, "the database failed: ", "readonly database")


def test_debug_shows_the_traceback_behind_the_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/missing/engagebot.db"
    result = here(tmp_path, "--debug", "tickets", "list", DATABASE_URL=url)
    assert result.returncode == 2
    assert "Traceback" in result.stderr and result.stderr.strip().splitlines()[-1].startswith("engagebot: ")


def test_a_busy_port_is_one_line_naming_engagebot_port_before_the_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = engagebot(tmp_path, "run", ENGAGEBOT_PORT=str(port))
    assert_one_clear_line(result, f"port {port} on 127.0.0.1 is already in use", "ENGAGEBOT_PORT", "ENGAGEBOT_HOST")
    assert result.stdout == ""


def test_a_usage_error_is_one_line_with_the_same_prefix(tmp_path: Path) -> None:
    result = here(tmp_path, "tickets", "lst")
    assert_one_clear_line(result, "No such command 'lst'", "Did you mean 'list'?", "engagebot tickets --help")
    alone = here(tmp_path, "tickets")  # a group alone: its help is the answer, not an error
    assert (alone.returncode, alone.stderr) == (0, "") and alone.stdout.startswith("Usage: engagebot tickets")


# ---- one CLI style: names, references, lists, logs ------------------------------------------------------------------


def test_lists_page_and_say_how_many_there_are_and_customers_are_named_by_external_id_anywhere(tmp_path: Path) -> None:
    rows = "".join(f"C-{n},Customer {n}\n" for n in range(1, 8))
    (tmp_path / "customers.csv").write_text("external_id,name\n" + rows, encoding="utf-8")
    assert here(tmp_path, "customers", "import", "customers.csv").returncode == 0

    listed = here(tmp_path, "customers", "list", "--limit", "3", "--offset", "2")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:4] == ["id", "external", "id", "name"]
    assert [line.split()[:2] for line in lines[1:4]] == [["5", "C-5"], ["4", "C-4"], ["3", "C-3"]]
    assert lines[-1] == "showing 3–5 of 7 customers; --offset 5 for more"

    explained = here(tmp_path, "routing", "explain", "--customer", "ext:C-4", "--category", "delivery")
    assert explained.returncode == 0, explained.stderr
    assert explained.stdout.startswith("customer #4 Customer 4: tier standard")
    link = here(tmp_path, "customers", "link-code", "ext:C-4")
    assert link.returncode == 0 and link.stdout.strip(), link.stderr
    missing = here(tmp_path, "routing", "explain", "--customer", "ext:C-99", "--category", "delivery")
    assert (missing.returncode, missing.stderr) == (1, "engagebot: no customer ext:C-99\n")


def test_one_shot_commands_keep_logs_out_of_their_output(tmp_path: Path) -> None:
    result = engagebot(tmp_path, "intents", "explain", "my order is late")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split() == ["score", "flow", "example", "phrase"]
    assert " INFO " not in result.stdout + result.stderr


def test_an_unknown_flow_gets_a_did_you_mean(tmp_path: Path) -> None:
    result = here(tmp_path, "flows", "graph", "complant")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("engagebot: unknown flow 'complant' (did you mean \"complaint\"?); known: ")


def test_the_known_categories_of_the_starter_flows_are_names_not_templates(tmp_path: Path) -> None:
    result = here(tmp_path, "routing", "explain", "--customer", "1", "--category", "delivry")
    assert (result.returncode, result.stdout) == (1, "")
    line = result.stderr.strip()
    assert line.startswith("engagebot: unknown category 'delivry' (did you mean \"delivery\"?); known: ")
    known = line.split("known: ")[1].split(", ")
    # The cancellation flow's category is a template choosing between two names: both are known, the template is not.
    assert {"retention", "cancellation", "delivery", "handoff"} <= set(known)
    assert not [name for name in known if "{" in name or " " in name]


# ---- the embedded defaults, and engagebot init ---------------------------------------------------------------------


class Running:
    """`engagebot run` as a real process: its banner, its port, and a way to stop it as a terminal user would."""

    def __init__(self, cwd: Path, *args: str, **env: str):
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", *args, "run"], cwd=cwd,
            env=environment(ENGAGEBOT_PORT=str(self.port), **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        self.banner: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.banner.append(line.rstrip("\n"))
            if line.startswith("terminal chat:"):
                break
        else:
            raise AssertionError(f"no banner: {self.banner} {self.process.communicate()}")

    def interrupt(self, how: signal.Signals = signal.SIGINT) -> tuple[int, str, str]:
        """Ctrl-C (SIGINT), or SIGTERM as a service manager (systemd, docker stop) stops it."""
        self.process.send_signal(how)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for one in started:
        if one.process.poll() is None:
            one.process.kill()
            one.process.wait()


def say(port: int, text: str) -> list[str]:
    # The banner comes just before uvicorn binds the port again and starts the app: on a loaded machine a message
    # sent at once could find it closed for a moment (connection refused), as a browser opened that fast would.
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    answer = http.post("/chat/api/messages", json={"visitor": "first-hour-visitor", "text": text})
    assert answer.status_code == 200, answer.text
    return [reply["text"] for reply in answer.json()["replies"]]


def test_run_in_an_empty_folder_serves_the_starter_flows_and_says_how_to_copy_them(
    tmp_path: Path, running: list[Running]
) -> None:
    bot = Running(tmp_path)
    running.append(bot)
    banner = "\n".join(bot.banner)
    assert "config: (embedded defaults) (no config.yaml here; `engagebot init` writes one to edit)" in banner
    assert "flows: the built-in starter flows" in banner and "`engagebot init` copies them" in banner
    assert any("How likely are you to recommend" in text for text in say(bot.port, "/nps"))

    code, out, err = bot.interrupt()
    assert (code, out.strip()) == (0, "engagebot stopped"), err
    assert "Traceback" not in err and "Aborted" not in err + out


def test_init_writes_a_copy_of_the_defaults_to_edit_and_never_overwrites(tmp_path: Path) -> None:
    first = here(tmp_path, "init", "shop")
    assert first.returncode == 0, first.stderr
    shop = tmp_path / "shop"
    assert (shop / "config.yaml").read_text(encoding="utf-8") == (REPO / "config.yaml").read_text(encoding="utf-8")
    assert sorted(p.name for p in (shop / "flows").iterdir()) == sorted(p.name for p in STARTER_FLOWS.glob("*.yaml"))
    assert "engagebot run` in shop" in first.stdout

    (shop / "config.yaml").write_text("business: {name: Bluebird Coffee}\n", encoding="utf-8")
    again = here(tmp_path, "init", "shop")
    assert again.returncode == 1 and again.stderr.startswith("engagebot: not overwriting ")
    assert (shop / "config.yaml").read_text(encoding="utf-8") == "business: {name: Bluebird Coffee}\n"

    checked = here(shop, "flows", "check")
    assert checked.returncode == 0 and checked.stdout.startswith(f"{len(list(STARTER_FLOWS.glob('*.yaml')))} flows OK")


def test_a_broken_flow_at_start_up_is_named_in_the_banner_with_its_first_error(
    tmp_path: Path, running: list[Running]
) -> None:
    assert here(tmp_path, "init").returncode == 0
    (tmp_path / "flows" / "broken.yaml").write_text("flow: broken\nsteps:\n  - sya: hello\n", encoding="utf-8")
    bot = Running(tmp_path)
    running.append(bot)
    refused = [line for line in bot.banner if line.startswith("flow not in force:")]
    assert refused == [f"flow not in force: {tmp_path / 'flows' / 'broken.yaml'}:3: " + refused[0].split(":3: ")[1]]
    assert "this step needs one of" in refused[0]
    assert f"flows: {tmp_path / 'flows'}" in "\n".join(bot.banner)
    code, out, err = bot.interrupt(signal.SIGTERM)  # stopped by a service manager: as cleanly as by Ctrl-C
    assert (code, out.strip()) == (0, "engagebot stopped"), err
    assert "Traceback" not in err


# ---- engagebot chat on a terminal ----------------------------------------------------------------------------------


class Terminal:
    """`engagebot chat` on a pseudo-terminal, as a person types into it."""

    def __init__(self, cwd: Path):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes engagebot chat
            # As a shell starts it: Ctrl-C at its default and no signal blocked, whatever the test worker set
            # (an ignored SIGINT is inherited across exec, and Python then never turns it into KeyboardInterrupt).
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "handlers.cli", "chat"], environment())

    def read_until(self, text: str, timeout: float = 60) -> str:
        seen = b""
        deadline = time.monotonic() + timeout
        while text.encode() not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], deadline - time.monotonic())
            if not ready:
                break
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # the child ended
                break
            if not chunk:
                break
            seen += chunk
        return seen.decode(errors="replace").replace("\r\n", "\n")

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def exit_code(self, timeout: float = 10) -> int | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
        os.kill(self.pid, signal.SIGKILL)
        return None


@pytest.mark.parametrize(("key", "name"), [(b"\x03", "Ctrl-C"), (b"\x04", "Ctrl-D")])
def test_chat_on_a_terminal_prompts_indents_and_quits_at_once(tmp_path: Path, key: bytes, name: str) -> None:
    terminal = Terminal(tmp_path)
    assert "Ctrl-D or Ctrl-C quits" in terminal.read_until("you> ")
    terminal.type(b"/complaint\n")
    shown = terminal.read_until("you> ")
    # A reply of several lines keeps its later lines under the first, past "bot: ".
    assert "\nbot: " in shown and "\n     " in shown, shown
    started = time.monotonic()
    terminal.type(key)  # no Enter after it: quitting must not wait for one
    assert terminal.exit_code() == 0, name
    assert time.monotonic() - started < 10


def test_piped_chat_shows_no_prompt(tmp_path: Path) -> None:
    result = engagebot(tmp_path, "chat", stdin="/nps\n9\n")
    assert result.returncode == 0, result.stderr
    assert "you>" not in result.stdout and "How likely are you to recommend" in result.stdout
    assert result.stdout.startswith("bot: ")


# ---- wording with default settings ---------------------------------------------------------------------------------


async def test_the_example_team_resolves_a_complaint_and_a_customer_without_a_name_reads_natural_text(
    tmp_path: Path,
) -> None:
    from sqlalchemy import select

    from bot.transcript.models import Message
    from tests.handlers.test_cli_tickets import query

    url = f"sqlite+aiosqlite:///{tmp_path / 'engagebot.db'}"
    team = ["--config", str(REPO / "examples" / "team.yaml")]
    complaint = "/complain\nMy parcel never arrived\nOrder & delivery\nSkip\nQuite a lot\n"
    chat = here(tmp_path, *team, "chat", "--user", "nameless", stdin=complaint, DATABASE_URL=url)
    assert "Your reference is C-1001." in chat.stdout, chat.stdout + chat.stderr
    for step in (
        ["claim", "C-1001", "--as", "dana"],
        ["resolve", "C-1001", "--as", "dana", "--resolution", "Found it."],
    ):
        done = here(tmp_path, *team, "tickets", *step, DATABASE_URL=url)
        assert done.returncode == 0, done.stderr
    said = await query(url, select(Message.text).where(Message.direction == "out").order_by(Message.id))
    assert "Good news: Dana Okafor has resolved your request C-1001.\nFound it." in said
