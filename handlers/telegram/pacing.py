"""A sliding-window rate limit: at most `rate` calls in any one-second window.

Telegram counts messages per second. A leaky bucket as deep as the rate (AsyncLimiter(30, 1)) let about twice
the rate through in the first second of a burst, and one a single message deep (one every 1/rate seconds)
forfeited rate for good whenever the event loop woke a caller late (0.71 of 200/s in bench/bench_outbound.py).
A window of the last `rate` calls lets a late caller catch up and never lets more than `rate` through in
any second, which is the limit Telegram (and the Bot API stand-in in tests) applies.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from types import TracebackType

# Sends leave here and are counted on arrival: a margin keeps network jitter from squeezing one more into a second.
JITTER_MARGIN = 0.01  # seconds


class SlidingWindowLimiter:
    """`async with limiter:` waits until fewer than `rate` calls are in flight or ended within the window (one
    second, or the time one call takes at a rate under one per second), then enters.

    A call is counted from when it enters until `window` after it ends: Telegram counts it when it arrives, which
    is some time between the two. Counted from its start, a call the network or a busy event loop delayed could
    arrive in the same second as the calls let in a window later (429s under load); counted from its end, never.
    Local round trips of a few milliseconds cost under 1% of the rate.
    """

    def __init__(self, per_second: float):
        self.calls = max(1, math.floor(per_second))
        self.window = self.calls / per_second + JITTER_MARGIN
        self._ended: deque[float] = deque()  # in the order calls ended, so oldest first
        self._in_flight = 0
        self._an_end = asyncio.Event()
        self._turn = asyncio.Lock()  # callers enter in the order they came

    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._turn:
            while True:
                now = loop.time()
                while self._ended and self._ended[0] <= now - self.window:
                    self._ended.popleft()
                if len(self._ended) + self._in_flight < self.calls:
                    self._in_flight += 1
                    return
                if self._ended:
                    await asyncio.sleep(self._ended[0] + self.window - now)
                else:  # every slot is a call still in flight: its end starts its window
                    self._an_end.clear()
                    await self._an_end.wait()

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._in_flight -= 1
        self._ended.append(asyncio.get_running_loop().time())
        self._an_end.set()
