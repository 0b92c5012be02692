"""What the environment adds to the file's settings: secrets, the database URL, where to listen, the platforms'
API URLs and Telegram's mode. A bad value is named by its variable."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from bot.config.conversations import BUILTIN_CORPUS
from bot.config.server import DatabaseSettings, database_url_problem
from bot.config.settings import Secrets, Settings
from bot.yamlsource import Problem, SourceError

# Each secret's environment variable; none can be set in the file.
ENV_SECRETS = {
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "telegram_webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "api_key": "ENGAGEBOT_API_KEY",
    "metrics_token": "ENGAGEBOT_METRICS_TOKEN",
}


def apply_environment(settings: Settings, env: Mapping[str, str], base_dir: Path, source: str) -> Settings:
    """The settings with the environment applied; raises SourceError naming each variable that is wrong."""
    problems: list[Problem] = []
    server = settings.server
    if env.get("ENGAGEBOT_HOST"):
        server = server.model_copy(update={"host": env["ENGAGEBOT_HOST"]})
    if env.get("ENGAGEBOT_PORT"):
        raw = env["ENGAGEBOT_PORT"]
        if raw.isdigit() and 0 <= int(raw) <= 65535:
            server = server.model_copy(update={"port": int(raw)})
        else:
            problems.append(Problem("ENGAGEBOT_PORT", 0, f"{raw!r} is not a port number (0-65535)"))
    database = settings.database
    if env.get("DATABASE_URL"):
        problem = database_url_problem(env["DATABASE_URL"])
        if problem is None:
            database = DatabaseSettings(url=env["DATABASE_URL"])
        else:
            problems.append(Problem("DATABASE_URL", 0, problem))
    mode = env.get("TELEGRAM_MODE") or settings.telegram.mode
    if mode not in ("polling", "webhook"):
        problems.append(Problem("TELEGRAM_MODE", 0, f"{mode!r} must be polling or webhook"))
        mode = "polling"
    secret = env.get("TELEGRAM_WEBHOOK_SECRET") or ""
    if mode == "webhook" and env.get("TELEGRAM_BOT_TOKEN") and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        problems.append(Problem("TELEGRAM_WEBHOOK_SECRET", 0, "webhook mode needs a secret of 1-256 characters "
                                "A-Z a-z 0-9 _ - (Telegram sends it back with every update)"))  # fmt: skip
    intents = settings.intents.model_copy(update={"corpus": _corpus_paths(settings.intents.corpus, base_dir, problems)})
    if problems:
        raise SourceError(problems)
    secrets = Secrets(**{field: env.get(var) or None for field, var in ENV_SECRETS.items()})
    telegram = settings.telegram.model_copy(
        update={"api_url": env.get("TELEGRAM_API_URL") or settings.telegram.api_url,
                "mode": mode}
    )  # fmt: skip
    slack = settings.slack.model_copy(update={"api_url": env.get("SLACK_API_URL") or settings.slack.api_url})
    return settings.model_copy(
        update={
            "server": server, "database": database, "secrets": secrets, "telegram": telegram,
            "slack": slack, "intents": intents, "base_dir": base_dir, "source": source,
        }
    )  # fmt: skip


def _corpus_paths(sources: tuple[str, ...], base_dir: Path, problems: list[Problem]) -> tuple[str, ...]:
    """intents.corpus with each file's path made absolute (relative to config.yaml's folder), and checked."""
    found: list[str] = []
    for source in sources:
        if source == BUILTIN_CORPUS:
            found.append(source)
            continue
        path = Path(source) if Path(source).is_absolute() else base_dir / source
        if not path.is_file():
            problems.append(Problem("intents.corpus", 0, f"{source}: no such file (a TSV with columns text, expected)"))
        found.append(str(path))
    return tuple(found)
