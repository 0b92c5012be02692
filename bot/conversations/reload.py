"""Hot reload: watch the flows folder and swap in valid edits without a restart."""

from __future__ import annotations

import asyncio
import logging

from watchfiles import awatch

from bot.conversations.registry import FlowRegistry

log = logging.getLogger(__name__)


async def watch_flows(registry: FlowRegistry, stop: asyncio.Event | None = None) -> None:
    """Reload on every change until `stop` is set. Invalid edits are refused by the registry."""
    log.info("watching %s for flow changes", registry.directory)
    async for _changes in awatch(registry.directory, stop_event=stop, debounce=300, step=50):
        problems = registry.load()
        if problems:
            log.error("flow edit refused (the last good version keeps serving):\n%s",
                      "\n".join(str(p) for p in problems))  # fmt: skip
        else:
            log.info("flows reloaded (generation %d)", registry.generation)
