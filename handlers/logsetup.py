"""Logging for the CLI: readable lines, quiet libraries, and secrets masked in every record."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from bot.config import ENV_SECRETS

NOISY = ("httpx", "apscheduler", "watchfiles", "aiosqlite", "alembic", "telegram.ext", "slack_bolt")


class SecretMask(logging.Filter):
    """Replaces every known secret in a log record by ***, whatever logged it (a URL with the token...)."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
        if masked != message:
            record.msg, record.args = masked, None
        return True


def _database_password() -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(os.environ.get("DATABASE_URL", "")).password or ""
    except Exception:
        return ""


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    mask = SecretMask([*(os.environ.get(var, "") for var in ENV_SECRETS.values()), _database_password()])
    for handler in logging.getLogger().handlers:
        handler.addFilter(mask)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
