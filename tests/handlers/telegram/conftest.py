"""Fixtures for the Telegram adapter tests: a Bot API stand-in per test, served over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from handlers.server import build_app
from tests.conftest import FixedClock
from tests.handlers.telegram.harness import tg_settings
from tests.support.botapi_standin import BotApiStandIn


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    async with BotApiStandIn() as stand_in:
        yield stand_in


@pytest.fixture
def polling_app(tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock) -> Starlette:
    """The whole app in polling mode against the stand-in, with the starter flows (not started: see harness.running)."""
    return build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
