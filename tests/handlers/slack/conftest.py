"""Fixtures for the Slack adapter tests: the Slack Web API stand-in (and a Telegram one for customers)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.handlers.slack.harness import new_stand_in
from tests.support.botapi_standin import BotApiStandIn
from tests.support.slack_standin import SlackApiStandIn


@pytest.fixture
async def slack() -> AsyncIterator[SlackApiStandIn]:
    async with new_stand_in() as stand_in:
        yield stand_in


@pytest.fixture
async def telegram() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """Most Slack tests run on SQLite only; the end-to-end complaint runs on SQLite and PostgreSQL."""
    return f"sqlite+aiosqlite:///{tmp_path / 'engagebot.db'}"
