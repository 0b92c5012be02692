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
        out.write(f"--- {task.get_name()}\n")
        for line in awaiting(task.get_coro()):
            out.write(f"  {line}\n")
        # The future the task is parked on: its repr names its callbacks (a limiter's state, a timer's due time).
        waiter = getattr(task, "_fut_waiter", None)
        if waiter is not None:
            out.write(f"  parked on {type(waiter).__name__}\n")
            for callback in getattr(waiter, "_callbacks", None) or ():
                out.write(f"    then {callback!r}"[:600] + "\n")
    log.warning("%d asyncio tasks:\n%s", len(tasks), out.getvalue())


def awaiting(coro: object) -> list[str]:
    """Each frame of a suspended coroutine down to what it waits on. Task.print_stack shows only the outermost
    frame of a suspended coroutine, which says little ("in run_coroutine_job")."""
    lines = []
    while coro is not None and len(lines) < 40:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None) or getattr(coro, "ag_frame", None)
        if frame is None:
            lines.append(f"waits on {coro!r}"[:300])
            break
        lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None) or getattr(coro, "ag_await", None)
    return lines
