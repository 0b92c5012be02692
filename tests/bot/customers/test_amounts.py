"""Numbers with limits: what an amount may be, what a stored value still counts as, and that judging a huge one is
never slow."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest

from bot.customers import amounts
from bot.customers.amounts import NotANumber, OutOfRange

HUGE = ["1e1000000", "9" * 100_000, "-1e-1000000", "1e999999999999999999999999999999", 10**400, 1e300]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (49.9, 49.9), ("49.90", 49.9), (" 12 ", 12), (0, 0), ("-0.0001", -0.0001), ("1.50000", 1.5), ("1E+3", 1000),
        ("999999999999999", 999999999999999), ("99999999999.9999", 99999999999.9999), ("0e-100000000", 0),
        (Decimal("12.30"), 12.3),
    ],
)  # fmt: skip
def test_numbers_within_the_limits_are_stored_exactly(given: Any, stored: int | float) -> None:
    value = amounts.to_json(amounts.parse(given))
    assert (value, type(value)) == (stored, type(stored))


@pytest.mark.parametrize(
    "given",
    [*HUGE, "1e15", 10**15, -(10**15), "0.00001", 1e-05, "1234567890.123456", 0.30000000000000004, "1e400",
     float("nan"), float("inf"), "NaN", "-Infinity", "inf", Decimal("NaN"), Decimal("1" * 50)],
)  # fmt: skip
def test_numbers_beyond_the_limits_are_out_of_range(given: Any) -> None:
    with pytest.raises(OutOfRange, match=r"finite, below 10\^15 in size, with at most 4 decimal places"):
        amounts.parse(given)


@pytest.mark.parametrize("given", ["ten", "", "1_000", "١٢٣", "0x10", "1e", True, None, [1], {"a": 1}])
def test_things_that_are_not_numbers(given: Any) -> None:
    with pytest.raises(NotANumber):
        amounts.parse(given)


@pytest.mark.parametrize("given", HUGE)
def test_judging_a_huge_number_takes_no_time(given: Any) -> None:
    started = time.perf_counter()
    for _ in range(10):
        with pytest.raises(OutOfRange):
            amounts.parse(given)
        assert amounts.usable(given) in (None, 0)
        assert amounts.usable_float(given) in (None, 0.0)
    assert time.perf_counter() - started < 0.1


@pytest.mark.parametrize(
    ("stored", "usable"),
    [
        (1200, Decimal(1200)), ("1200", Decimal(1200)), (49.9, Decimal("49.9")), (0.123456789, Decimal("0.1235")),
        ("1e-1000000", Decimal(0)), (99999999999999.9, Decimal("99999999999999.9")),
        (10**15, None), ("1e100000", None), ("1" + "0" * 400, None), (float("nan"), None), (float("inf"), None),
        ("NaN", None), (True, None), ("gold", None), ({"oops": 1}, None), ([1, 2], None), (None, None),
    ],
)  # fmt: skip
def test_a_stored_value_is_usable_when_finite_and_below_the_limit(stored: Any, usable: Decimal | None) -> None:
    assert amounts.usable(stored) == usable
    assert amounts.usable_float(stored) == (None if usable is None else pytest.approx(float(usable), abs=1e-4))


def test_a_total_never_passes_the_limit() -> None:
    assert amounts.add(Decimal("999999999999998.5"), Decimal("0.5")) == Decimal("999999999999999")
    with pytest.raises(OutOfRange, match=r"would make the total 1000000000000000\.0"):
        amounts.add(Decimal("999999999999999.5"), Decimal("0.5"))


def test_a_json_body_with_a_huge_integer_is_read_at_once_and_the_integer_refused_by_its_field() -> None:
    started = time.perf_counter()
    body = json.loads('{"amount": ' + "9" * 100_000 + ', "count": 12}', parse_int=amounts.read_json_int)
    assert time.perf_counter() - started < 0.1
    assert body["count"] == 12 and isinstance(body["count"], int)
    with pytest.raises(OutOfRange):
        amounts.parse(body["amount"])
