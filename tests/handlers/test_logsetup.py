"""Secrets never reach the logs, whoever logs them."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette

from bot.config import Settings
from handlers.logsetup import SecretMask, configure_logging
from handlers.server import uvicorn_config


def test_a_token_in_a_logged_url_is_masked() -> None:
    record = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        "HTTP Request: POST %s",
        ("https://api.telegram.org/bot123:SECRET/getMe",),
        None,
    )
    SecretMask(["123:SECRET"]).filter(record)
    assert "SECRET" not in record.getMessage()
    assert "***" in record.getMessage()


def test_a_secret_in_an_exception_traceback_is_masked() -> None:
    try:
        raise RuntimeError("failed calling https://x/bot123:SECRET/sendMessage")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    SecretMask(["123:SECRET"]).filter(record)
    assert "SECRET" not in (record.exc_text or "")


def test_short_or_empty_values_are_not_treated_as_secrets() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a b c", None, None)
    SecretMask(["", "a"]).filter(record)
    assert record.getMessage() == "a b c"


def test_records_of_uvicorn_and_starlette_are_masked_too(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "xoxb-uvicorn-SECRET-123"
    monkeypatch.setenv("SLACK_BOT_TOKEN", secret)
    factory = logging.getLogRecordFactory()
    try:
        configure_logging(verbose=False)
        uvicorn_config(Starlette(), Settings())  # how `engagebot run` sets uvicorn's logging up
        try:
            raise ValueError(f"invalid literal for int() with base 10: {secret!r}")
        except ValueError:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
        logging.getLogger("uvicorn.error").warning("Invalid HTTP request received: %s", secret)
        logging.getLogger("starlette").error("while serving %s", secret, stack_info=True)
    finally:
        logging.setLogRecordFactory(factory)

    # They reach our handlers (uvicorn's own wrote them unmasked), and every part of them is masked.
    assert [r.name for r in caplog.records] == ["uvicorn.error", "uvicorn.error", "starlette"]
    for record in caplog.records:
        written = logging.Formatter().format(record)
        assert secret not in written and "***" in written
