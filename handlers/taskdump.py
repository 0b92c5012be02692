"""`kill -USR1 <pid>` on `engagebot run` logs what every asyncio task is waiting on: the way to see why a
process that is alive does no work (a job stuck on a lock, a connection, a slot)."""

from __future__ import annotations

import asyncio
import io
import logging
import signal

log = logging.getLogger(__name__)


def install(loop: asyncio.AbstractEventLoop) -> None:
    """Dump the tasks on SIGUSR1 (where the platform has it; a second install replaces the first)."""
    if hasattr(signal, "SIGUSR1"):
        loop.add_signal_handler(signal.SIGUSR1, dump)


def dump() -> None:
    tasks = asyncio.all_tasks()
    out = io.StringIO()
    for task in sorted(tasks, key=lambda t: t.get_name()):
        out.write(f"--- {task.get_name()} ({task.get_coro()!r})\n")
        task.print_stack(limit=12, file=out)
    log.warning("%d asyncio tasks:\n%s", len(tasks), out.getvalue())
