"""The `engagebot` command run inside the test process: the same click entry point a shell runs (argv, stdin, stdout,
stderr, exit code, working directory, environment), without the two seconds of Python start-up and imports that a
subprocess costs. The tests of what only a real process shows (Ctrl-C, signals, `run`, a traceback on a crash) spawn
`engagebot` instead (tests/handlers/test_cli_first_hour.py, tests/reliability/)."""

from __future__ import annotations

import logging
import os
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from handlers.cli import main

# What a shell's environment must not pass to the command under test (the subprocess helpers dropped them too).
FOREIGN_ENV = ("DATABASE_URL",)
FOREIGN_PREFIXES = ("ENGAGEBOT_", "TELEGRAM_", "SLACK_")
# One command at a time: the working directory, the environment and sys.std* are the process's own.
_ONE_AT_A_TIME = threading.Lock()


@dataclass
class Completed:
    """What subprocess.run returns, for the fields the tests read."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def engagebot(
    cwd: Path, *args: str, database_url: str | None = None, stdin: str = "", env: dict[str, str] | None = None
) -> Completed:
    """`engagebot ARGS` run from `cwd` with a clean environment (plus DATABASE_URL and `env`), stdin given."""
    # In a thread of its own: the command calls asyncio.run, and the calling test may be inside an event loop.
    with _ONE_AT_A_TIME, ThreadPoolExecutor(1) as pool:
        return pool.submit(_invoke, cwd, args, database_url, stdin, env or {}).result()


def _invoke(cwd: Path, args: tuple[str, ...], database_url: str | None, stdin: str, env: dict[str, str]) -> Completed:
    saved_env, saved_cwd, saved_logging = dict(os.environ), os.getcwd(), _LoggingState()
    try:
        for key in list(os.environ):
            if key in FOREIGN_ENV or key.startswith(FOREIGN_PREFIXES):
                del os.environ[key]
        os.environ.update({"DATABASE_URL": database_url} if database_url else {})
        os.environ.update(env)
        os.chdir(cwd)
        saved_logging.clear_root()  # so the command's logging.basicConfig writes to its stderr, as in a shell
        result = CliRunner().invoke(main, list(args), input=stdin, prog_name="engagebot", catch_exceptions=True)
        stderr = result.stderr
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            # Python prints an uncaught exception's traceback on stderr and exits 1: so does this.
            stderr += "".join(traceback.format_exception(result.exception))
        return Completed(args, result.exit_code, result.stdout, stderr)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        saved_logging.restore()
        vars(main).pop("debug", None)  # --debug is remembered on the command object, which outlives one run


class _LoggingState:
    """The logging set-up the command changes process-wide (root handlers, levels, the record factory)."""

    def __init__(self) -> None:
        self.handlers = list(logging.root.handlers)
        self.levels = {
            name: logger.level
            for name, logger in [("", logging.root), *logging.root.manager.loggerDict.items()]
            if isinstance(logger, logging.Logger)
        }
        self.factory = logging.getLogRecordFactory()

    def clear_root(self) -> None:
        for handler in self.handlers:
            logging.root.removeHandler(handler)

    def restore(self) -> None:
        for handler in list(logging.root.handlers):
            logging.root.removeHandler(handler)
        for handler in self.handlers:
            logging.root.addHandler(handler)
        for name, logger in [("", logging.root), *logging.root.manager.loggerDict.items()]:
            if isinstance(logger, logging.Logger):
                logger.setLevel(self.levels.get(name, logging.NOTSET))
        logging.setLogRecordFactory(self.factory)
