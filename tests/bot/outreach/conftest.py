"""Fixtures of the campaign tests: a prepared core with the campaigns a test names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.core import Core
from tests.conftest import FixedClock, make_settings

# The tiers campaigns may name (tier rules are not run here: each test sets its customers' tiers).
TIERS = {
    "default": "standard",
    "rules": [
        {"tier": "core", "top_percent": 20},
        {"tier": "vip", "when": "customer.attributes.vip"},
        {"tier": "new", "when": "customer.tenure_days < 30"},
    ],
}


@pytest.fixture
def make_core(tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock) -> Any:
    """A prepared core whose config.yaml has these campaigns (and business settings)."""

    @asynccontextmanager
    async def build(campaign_config: dict[str, Any], **sections: Any) -> AsyncIterator[Core]:
        sections.setdefault("tiers", TIERS)
        settings = make_settings(tmp_path, database_url, flows_dir, campaigns=campaign_config, **sections)
        core = Core(settings, clock=clock)
        assert not await core.prepare()
        try:
            yield core
        finally:
            await core.close()

    return build
