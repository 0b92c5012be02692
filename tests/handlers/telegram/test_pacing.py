"""The overall Telegram limit: never more than the rate in any second, and lost time made up."""

from __future__ import annotations

import asyncio
import itertools

from handlers.telegram.pacing import JITTER_MARGIN, SlidingWindowLimiter


async def _enter(limiter: SlidingWindowLimiter, times: list[float]) -> None:
    async with limiter:
        times.append(asyncio.get_running_loop().time())


async def test_a_burst_never_puts_more_than_the_rate_in_any_second() -> None:
    limiter, times = SlidingWindowLimiter(20), []
    await asyncio.gather(*(_enter(limiter, times) for _ in range(50)))
    assert len(times) == 50
    for start in times:
        assert sum(start <= t < start + 1.0 for t in times) <= 20
    # and it is not slower than it must be: 50 calls at 20/s fit in a little over two windows
    assert times[-1] - times[0] < 2 * (1.0 + JITTER_MARGIN) + 0.2


async def test_a_caller_that_comes_late_may_catch_up_within_the_second() -> None:
    limiter, times = SlidingWindowLimiter(10), []
    await _enter(limiter, times)
    await asyncio.sleep(0.5)  # the loop was busy: half a second without a send
    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(_enter(limiter, times) for _ in range(9)))
    # A one-at-a-time pacer spaces these 0.1 s apart (0.8 s); the window lets the nine through at once.
    assert asyncio.get_running_loop().time() - started < 0.2


async def test_a_rate_under_one_per_second_spaces_every_call() -> None:
    limiter, times = SlidingWindowLimiter(4 / 3), []  # one call per 0.75 s
    await asyncio.gather(*(_enter(limiter, times) for _ in range(3)))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 0.75 for gap in gaps), gaps


async def test_a_slow_call_counts_until_it_ends_so_a_late_arrival_never_shares_a_second_with_later_calls() -> None:
    """Telegram counts a message when it arrives, at the latest when the call ends: a call held up on the way (a
    busy event loop, the network) must not free its place a window after it started."""
    limiter, loop = SlidingWindowLimiter(3), asyncio.get_running_loop()
    started, ends, entered = loop.time(), [], []

    async def slow() -> None:
        async with limiter:
            await asyncio.sleep(0.3)
            ends.append(loop.time())

    await asyncio.gather(*(slow() for _ in range(3)))
    await _enter(limiter, entered)
    assert entered[0] >= min(ends) + limiter.window
    assert entered[0] - started >= 0.3 + 1.0
