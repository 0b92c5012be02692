"""`kill -USR1` on a running process logs what each of its asyncio tasks waits on."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest

from handlers import taskdump


async def test_sigusr1_logs_every_task_and_where_it_waits(caplog: pytest.LogCaptureFixture) -> None:
    stuck = asyncio.Event()

    async def waiting_for_a_lock_nobody_releases() -> None:
        await stuck.wait()

    task = asyncio.create_task(waiting_for_a_lock_nobody_releases(), name="dispatch-tick")
    loop = asyncio.get_running_loop()
    taskdump.install(loop)
    try:
        with caplog.at_level(logging.WARNING, logger="handlers.taskdump"):
            os.kill(os.getpid(), signal.SIGUSR1)
            for _ in range(100):  # the handler runs on the loop's next turn
                if caplog.records:
                    break
                await asyncio.sleep(0.01)
        (record,) = caplog.records
        assert "--- dispatch-tick" in record.getMessage()
        assert "in waiting_for_a_lock_nobody_releases" in record.getMessage()
    finally:
        loop.remove_signal_handler(signal.SIGUSR1)
        stuck.set()
        await task
