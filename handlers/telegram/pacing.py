"""A sliding-window rate limit: at most `rate` calls in any one-second window.

Telegram counts messages per second. A leaky bucket as deep as the rate (AsyncLimiter(30, 1)) let about twice
the rate through in the first second of a burst, and one a single message deep (one every 1/rate seconds)
forfeited rate for good whenever the event loop woke a caller late (0.71 of 200/s in bench/bench_outbound.py).
A window of the last `rate` send times lets a late caller catch up and never lets more than `rate` through in
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
    """`async with limiter:` waits until fewer than `rate` calls entered in the window (one second, or the
    time one call takes at a rate under one per second), then enters."""

    def __init__(self, per_second: float):
        self.calls = max(1, math.floor(per_second))
        self.window = self.calls / per_second + JITTER_MARGIN
        self._entered: deque[float] = deque()
        self._turn = asyncio.Lock()  # callers enter in the order they came

    async def __aenter__(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._turn:
            while True:
                now = loop.time()
                while self._entered and self._entered[0] <= now - self.window:
                    self._entered.popleft()
                if len(self._entered) < self.calls:
                    self._entered.append(now)
                    return
                await asyncio.sleep(self._entered[0] + self.window - now)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None
