"""Numbers from outside with limits: CRM amounts and the totals purchases add to, checked before any arithmetic.

`1e1000000` is nine characters, and `int()` or `float()` of it, or Decimal arithmetic at its exponent, stalls the
event loop for most of a minute. So a number is judged by its shape (ASCII digits, at most MAX_TEXT characters for
text) and by `Decimal.as_tuple()` (its digits and exponent, read without computing anything) before anything is done
with it, and a value beyond the limits is refused, or, when it was stored before these limits, treated as no value.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

SIZE_DIGITS = 15
MAX_SIZE = 10**SIZE_DIGITS  # |value| < 10^15
MAX_PLACES = 4  # decimal places: money to a hundredth of a cent
MAX_DIGITS = 15  # significant digits: what a double (the JSON number stored) keeps exactly
# Longer text is never a number within the limits ("-0.0001" to "999999999999999" and exponent forms fit).
MAX_TEXT = 50
# Longer digit strings in a JSON body are not made into ints (CPython refuses past 4,300 digits anyway).
MAX_JSON_INT = 40
LIMITS = (
    f"a number must be finite, below 10^{SIZE_DIGITS} in size, with at most {MAX_PLACES} decimal places "
    f"and {MAX_DIGITS} significant digits"
)
SHAPE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
NOT_FINITE = frozenset({"nan", "snan", "inf", "infinity"})  # numbers to Python and JavaScript, but no amounts
_QUANTUM = Decimal(1).scaleb(-MAX_PLACES)


class NotANumber(ValueError):
    """Not a number at all (a word, a list, a boolean)."""


class OutOfRange(ValueError):
    """A number beyond the limits (LIMITS says which)."""


def parse(value: object) -> Decimal:
    """A number from outside (a JSON number or numeric text) within the limits, as an exact Decimal with no
    trailing zeros. NotANumber or OutOfRange otherwise; never slow, whatever the size or exponent."""
    exact = _decimal(value)
    if exact is None:
        raise NotANumber("is not a number")
    sign, digits, exponent = exact.as_tuple()
    if not isinstance(exponent, int):  # NaN or an infinity (only a Decimal given as such gets here)
        raise OutOfRange(LIMITS)
    if not any(digits):
        return Decimal(0)
    zeros = len(digits) - len(bytes(digits).rstrip(b"\0"))  # 49.900 is 49.9: trailing zeros are no precision
    digits, exponent = digits[: len(digits) - zeros], exponent + zeros
    size = exponent + len(digits)  # the value is below 10^size
    if size > SIZE_DIGITS or -exponent > MAX_PLACES or len(digits) > MAX_DIGITS:
        raise OutOfRange(LIMITS)
    return Decimal((sign, digits, exponent))


def to_json(exact: Decimal) -> int | float:
    """A Decimal within the limits as the JSON number stored: an int when whole, else a float (exact: 15 digits)."""
    return int(exact) if exact == exact.to_integral_value() else float(exact)


def usable(value: object) -> Decimal | None:
    """A number stored before the limits (an older import, a flow, a hand edit): the value to four places when it
    is a finite number below MAX_SIZE in size, else None (huge, NaN, a word, a list...). Never slow."""
    exact = _decimal(value)
    if exact is None or not exact.is_finite() or exact.adjusted() >= SIZE_DIGITS:
        return None
    return exact.quantize(_QUANTUM) if exact.as_tuple().exponent < -MAX_PLACES else exact  # type: ignore[operator]


def usable_float(value: object) -> float | None:
    """usable() as a float, for ranking and conditions: no Decimal on the way for the common int and float."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return value if -MAX_SIZE < value < MAX_SIZE else None  # NaN fails both comparisons
    if isinstance(value, int):
        return float(value) if -MAX_SIZE < value < MAX_SIZE else None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_TEXT or not SHAPE.fullmatch(text):
            return None
        result = float(text)  # at most MAX_TEXT characters: a huge exponent is inf, a tiny one 0.0
        return result if -MAX_SIZE < result < MAX_SIZE else None
    return None


def add(total: Decimal, amount: Decimal) -> Decimal:
    """total + amount, both within MAX_SIZE; OutOfRange when the sum is not (a total never grows past the limit)."""
    result = total + amount
    if not -MAX_SIZE < result < MAX_SIZE:
        raise OutOfRange(f"would make the total {result:f}, and totals stay below 10^{SIZE_DIGITS}")
    return result


def read_json_int(digits: str) -> int | Decimal:
    """json.loads(parse_int=...): an integer literal of a JSON body. Past MAX_JSON_INT digits it is kept as a
    Decimal (built in linear time), which every check refuses by field, instead of an int built in quadratic time
    (or a ValueError for the whole body past 4,300 digits)."""
    return int(digits) if len(digits) <= MAX_JSON_INT else Decimal(digits)


def _decimal(value: object) -> Decimal | None:
    """The value as a Decimal without computing with it (a string is checked for its shape and length first);
    None when it is not a number. Huge values stay cheap: the checks read only digits and exponent."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value) if -MAX_SIZE < value < MAX_SIZE else Decimal("Infinity")
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else Decimal("Infinity")  # repr: 0.1 is "0.1"
    if isinstance(value, str):
        text = value.strip()
        if not SHAPE.fullmatch(text):
            return Decimal("Infinity") if text.lstrip("+-").lower() in NOT_FINITE else None
        if len(text) > MAX_TEXT:
            return Decimal("Infinity")
        try:
            return Decimal(text)
        except InvalidOperation:  # an exponent past what Decimal holds (1e999999999999999999): out of range too
            return Decimal("Infinity")
    return None
