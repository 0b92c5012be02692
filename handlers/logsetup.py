"""Logging for the CLI: readable lines, quiet libraries, and secrets masked in every record."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

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
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: kept as text, so they are masked too
            message = f"{record.msg} {record.args!r}"
            record.msg, record.args = message, None
        masked = self._mask(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self._mask(record.stack_info)
        if masked != message:
            record.msg, record.args = masked, None
        return True

    def _mask(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


class _MaskingFactory:
    """A log record factory that masks each record as it is made: every record of every logger passes the mask,
    whichever handlers (ours, uvicorn's, a library's own) later write it."""

    def __init__(self, make: Callable[..., logging.LogRecord], mask: SecretMask):
        self.make = make
        self.mask = mask

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.make(*args, **kwargs)
        try:
            self.mask.filter(record)
        except Exception:  # a failing mask must not make the caller's log call raise
            record.msg, record.args = "(log record withheld: masking it failed)", None
            record.exc_info = record.exc_text = record.stack_info = None
        return record


def install_mask(mask: SecretMask) -> None:
    """Mask every log record made from now on (replacing a mask installed before, not stacking on it)."""
    factory = logging.getLogRecordFactory()
    if isinstance(factory, _MaskingFactory):
        factory.mask = mask
    else:
        logging.setLogRecordFactory(_MaskingFactory(factory, mask))


def _database_password() -> str:
    from bot.storage.database import url_password

    return url_password(os.environ.get("DATABASE_URL", ""))


def configure_logging(verbose: bool, *, quiet: bool = False) -> None:
    """Log lines on stderr (never in a command's output): INFO and up, DEBUG when verbose, WARNING and up when quiet
    (commands that print a result rather than run a service)."""
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_mask(SecretMask([*(os.environ.get(var, "") for var in ENV_SECRETS.values()), _database_password()]))
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
