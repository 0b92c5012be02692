"""Rate limits kept in memory: a token bucket per key (a visitor, an address, a login name), bounded in size.

Counters live in one process: several instances each count on their own. Not thread-safe: use a limiter from one
event loop (nothing here awaits, so a check is atomic there).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

Clock = Callable[[], float]
"""Seconds from an arbitrary start that never go back (time.monotonic); tests pass their own."""
EPSILON = 1e-9  # float sums such as 0.1 + 0.2 must not refuse a request that is exactly on time


class RateLimiter:
    """Up to `burst` requests at once per key, refilled at `rate` per `per_seconds`.

    A generic cell rate algorithm: each key stores one number, the moment its bucket will be full again, so a key
    costs a few hundred bytes however busy it is. At most `max_keys` keys are remembered; past that the least
    recently used is forgotten. Forgetting a key gives it a full bucket again, so a flood of distinct keys costs
    memory up to the cap and never more; keys whose bucket is full again are dropped as they are met.
    """

    def __init__(
        self, rate: float, per_seconds: float, burst: int, *, max_keys: int = 10_000, clock: Clock = time.monotonic
    ):
        if rate <= 0 or per_seconds <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate and per_seconds must be positive, burst and max_keys at least 1")
        self.interval = per_seconds / rate  # seconds that refill one request
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        self._full_at: OrderedDict[Hashable, float] = OrderedDict()  # key -> when its bucket is full again

    def check(self, key: Hashable, cost: int = 1) -> float | None:
        """Take `cost` requests from `key`'s bucket: None when allowed, else the seconds until they would be (and
        nothing is taken: a refused request does not push the key's next chance further away)."""
        now = self._clock()
        self._drop_idle(now)
        full_at = self._next_full_at(key, now, cost)
        wait = full_at - self.burst * self.interval - now
        if wait > EPSILON:
            return wait
        self._full_at[key] = full_at
        self._full_at.move_to_end(key)
        while len(self._full_at) > self.max_keys:
            self._full_at.popitem(last=False)
        return None

    def retry_after(self, key: Hashable, cost: int = 1) -> float | None:
        """What `check` would answer, without taking anything (e.g. before checking a password)."""
        now = self._clock()
        wait = self._next_full_at(key, now, cost) - self.burst * self.interval - now
        return wait if wait > EPSILON else None

    def reset(self, key: Hashable) -> None:
        """Forget `key`: its bucket is full again (e.g. after a successful login)."""
        self._full_at.pop(key, None)

    def __len__(self) -> int:
        return len(self._full_at)

    def _next_full_at(self, key: Hashable, now: float, cost: int) -> float:
        return max(self._full_at.get(key, now), now) + cost * self.interval

    def _drop_idle(self, now: float) -> None:
        # The least recently used keys are the likeliest to be full again; two per call keeps the table small when
        # traffic is steady, at a constant cost.
        for _ in range(2):
            if not self._full_at:
                return
            key, full_at = next(iter(self._full_at.items()))
            if full_at > now:
                return
            del self._full_at[key]


class RecentKeys:
    """A bounded set of keys seen lately (e.g. visitors known to be returning); the oldest is forgotten first."""

    def __init__(self, max_keys: int = 10_000):
        self.max_keys = max_keys
        self._keys: OrderedDict[Hashable, None] = OrderedDict()

    def __contains__(self, key: Hashable) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        return False

    def add(self, key: Hashable) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.max_keys:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)


class RefusalLog:
    """One log line per refused burst, not per refused request, so a flood does not flood the log either.

    A key's refusals belong to one burst while each comes within `gap` seconds after the key could have tried
    again (a refusal with nothing to wait for, such as a wrong key, passes 0). New bursts are logged at most
    `lines_per_minute` times a minute; the ones left out are counted in the next line. Used for every refusal anyone
    can provoke without credentials (rate limits, wrong keys and signatures, oversized bodies), keyed by what was
    refused and the client's address.
    """

    def __init__(
        self, logger: logging.Logger, *, gap: float = 60, lines_per_minute: int = 6, max_keys: int = 10_000,
        clock: Clock = time.monotonic,
    ):  # fmt: skip
        self.logger = logger
        self.gap = gap
        self._clock = clock
        self._bursts: OrderedDict[Hashable, float] = OrderedDict()  # key -> when its burst is over
        self._max_keys = max_keys
        self._lines = RateLimiter(lines_per_minute, 60, lines_per_minute, max_keys=1, clock=clock)
        self._unlogged = 0

    def refused(self, key: Hashable, retry_after: float, message: str, *args: object) -> bool:
        """Note one refusal of `key`; logs `message % args` (at WARNING) when it starts a burst. True when logged."""
        now = self._clock()
        ongoing = self._bursts.get(key, float("-inf")) >= now
        self._bursts[key] = now + retry_after + self.gap
        self._bursts.move_to_end(key)
        while len(self._bursts) > self._max_keys:
            self._bursts.popitem(last=False)
        if ongoing:
            return False
        if self._lines.check("lines") is not None:
            self._unlogged += 1
            return False
        if self._unlogged:
            message += " (and %d more refused bursts not logged)"
            args = (*args, self._unlogged)
            self._unlogged = 0
        self.logger.warning(message, *args)
        return True
