"""The in-memory rate limiter, its bounded memory, and the refusal log, on a clock moved by hand."""

from __future__ import annotations

import logging

import pytest

from handlers.ratelimit import RateLimiter, RecentKeys, RefusalLog


class Ticker:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(rate: float = 20, per: float = 60, burst: int = 5, max_keys: int = 1000) -> tuple[RateLimiter, Ticker]:
    clock = Ticker()
    return RateLimiter(rate, per, burst, max_keys=max_keys, clock=clock), clock


def test_a_burst_is_allowed_then_refused_with_the_wait_until_the_next_request() -> None:
    limit, clock = limiter(rate=20, per=60, burst=5)  # one request refilled every 3 s
    assert [limit.check("ana") for _ in range(5)] == [None] * 5
    assert limit.check("ana") == pytest.approx(3.0)
    clock.now += 1
    assert limit.check("ana") == pytest.approx(2.0)  # a refused request takes nothing: the wait only shrinks
    clock.now += 2
    assert limit.check("ana") is None
    assert limit.check("ana") == pytest.approx(3.0)


def test_keys_are_counted_apart_and_a_long_pause_refills_only_up_to_the_burst() -> None:
    limit, clock = limiter(rate=1, per=1, burst=2)
    assert [limit.check("a"), limit.check("a"), limit.check("b")] == [None, None, None]
    assert limit.check("a") is not None
    clock.now += 3600
    assert [limit.check("a"), limit.check("a")] == [None, None]
    assert limit.check("a") == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("rate", "per", "burst", "sent_per_second", "seconds", "expected"),
    [
        # (rate, per seconds, burst, requests a second (a power of two: exact clock sums), for seconds, allowed).
        # The n-th request past the burst is allowed from (n - burst) * per / rate seconds on.
        (20, 60, 10, 16, 9, 10 + 2),  # 20 a minute: the burst, then at 3 s and 6 s
        (10, 3600, 5, 8, 600, 5 + 1),  # 10 an hour: the burst, then at 6 minutes
        (120, 60, 60, 64, 10, 60 + 19),  # 120 a minute: the burst, then every 0.5 s up to 9.5 s
    ],
)
def test_a_steady_flood_gets_the_burst_plus_the_rate(
    rate: float, per: float, burst: int, sent_per_second: int, seconds: int, expected: int
) -> None:
    limit, clock = limiter(rate=rate, per=per, burst=burst)
    allowed = 0
    for _ in range(seconds * sent_per_second):
        allowed += limit.check("flood") is None
        clock.now += 1 / sent_per_second
    assert allowed == expected


def test_retry_after_tells_without_taking_and_reset_refills() -> None:
    limit, _clock = limiter(rate=1, per=60, burst=2)  # e.g. failed logins: two, then one a minute
    assert limit.retry_after("bob") is None
    assert limit.retry_after("bob") is None  # asking takes nothing
    limit.check("bob")
    limit.check("bob")
    assert limit.retry_after("bob") == pytest.approx(60)
    assert limit.check("bob") == pytest.approx(60)
    limit.reset("bob")  # a successful login
    assert limit.check("bob") is None


def test_a_request_may_cost_more_than_one() -> None:
    limit, _clock = limiter(rate=1, per=1, burst=10)
    assert limit.check("k", cost=8) is None
    assert limit.check("k", cost=3) == pytest.approx(1.0)
    assert limit.check("k", cost=2) is None


def test_a_flood_of_distinct_keys_cannot_grow_memory_past_the_cap() -> None:
    limit, clock = limiter(rate=1, per=60, burst=1, max_keys=500)
    for n in range(100_000):
        assert limit.check(f"visitor-{n}") is None
        clock.now += 0.0001  # all within 10 s: none of them is full again
    assert len(limit) == 500
    assert limit.check("visitor-99999") is not None  # the newest are remembered
    assert limit.check("visitor-0") is None  # the oldest were forgotten: a fresh bucket


def test_keys_whose_bucket_is_full_again_are_dropped_as_they_are_met() -> None:
    limit, clock = limiter(rate=1, per=1, burst=3)
    for n in range(100):
        limit.check(n)
    clock.now += 10  # everyone is full again
    for n in range(100, 150):
        limit.check(n)
    assert len(limit) == 100 + 50 - 2 * 50  # each check dropped two idle keys


def test_invalid_limits_are_refused() -> None:
    for args in [(0, 60, 1), (1, 0, 1), (1, 60, 0)]:
        with pytest.raises(ValueError):
            RateLimiter(*args)


def test_recent_keys_remember_the_most_recently_seen() -> None:
    recent = RecentKeys(max_keys=3)
    for key in "abc":
        recent.add(key)
    assert "a" in recent  # seen again: now the most recent
    recent.add("d")
    assert ("a" in recent, "b" in recent, "c" in recent, "d" in recent) == (True, False, True, True)
    assert len(recent) == 3


def test_the_refusal_log_writes_one_line_per_burst_and_caps_lines_across_keys(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Ticker()
    refusals = RefusalLog(logging.getLogger("test.refusals"), gap=60, lines_per_minute=3, clock=clock)
    caplog.set_level(logging.WARNING, "test.refusals")
    for _ in range(2000):  # one visitor's flood, refused for 3 s at a time
        refusals.refused("ana", 3, "refused %s", "ana")
        clock.now += 0.01
    assert caplog.messages == ["refused ana"]

    clock.now += 3 + 61  # quiet for longer than the gap: the next refusal starts a new burst
    refusals.refused("ana", 3, "refused %s", "ana")
    assert caplog.messages == ["refused ana", "refused ana"]

    caplog.clear()
    for n in range(300):  # a flood of distinct keys (many addresses): a few lines, not 300
        refusals.refused(f"address-{n}", 3, "refused %s", n)
    assert caplog.messages == ["refused 0", "refused 1"]  # the third line of the minute went to "ana" above
    clock.now += 60
    refusals.refused("late", 3, "refused %s", "late")
    assert caplog.messages[-1] == "refused late (and 298 more refused bursts not logged)"
