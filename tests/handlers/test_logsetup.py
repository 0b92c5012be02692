"""Secrets never reach the logs, whoever logs them."""

from __future__ import annotations

import logging

from handlers.logsetup import SecretMask


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
