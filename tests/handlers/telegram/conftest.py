"""Fixtures for the Telegram adapter tests: a Bot API stand-in per test, served over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.botapi_standin import BotApiStandIn


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as stand_in:
        yield stand_in
