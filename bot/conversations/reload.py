"""Hot reload: watch the flows folder and swap in valid edits without a restart."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from watchfiles import awatch

from bot.conversations.registry import FlowRegistry
from bot.yamlsource import Problem

log = logging.getLogger(__name__)


async def watch_flows(
    registry: FlowRegistry, stop: asyncio.Event | None = None,
    reload: Callable[[], Awaitable[list[Problem]]] | None = None,
) -> None:  # fmt: skip
    """Reload on every change until `stop` is set. Invalid edits are refused by the registry. `reload` (the core's:
    import the files into the flow store, then load) replaces the plain `registry.load`."""
    log.info("watching %s for flow changes", registry.directory)
    async for _changes in awatch(registry.directory, stop_event=stop, debounce=300, step=50):
        problems = await reload() if reload is not None else registry.load()
        if problems:
            log.error("flow edit refused (the last good version keeps serving):\n%s",
                      "\n".join(str(p) for p in problems))  # fmt: skip
        else:
            log.info("flows reloaded (generation %d)", registry.generation)
