"""What the databases can store, for input from outside: text without NUL (PostgreSQL refuses it in text columns and
cannot read it back out of json) or lone surrogates (not Unicode text: no UTF-8 for them), and numbers that are
finite. Checks that name the field, for input; cleaning, for values stored before the checks existed.

JSON values are walked with a stack, not recursion: a body may nest as deep as the JSON decoder allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from bot.customers.profile import FieldError, quoted

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # in a Python str any surrogate is a lone one
SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def text_problem(text: str) -> str | None:
    """Why the databases cannot store `text`, or None when they can."""
    found = UNSTORABLE.search(text)
    if found is None:
        return None
    if found.group() == "\x00":
        return "contains a NUL character (\\u0000), which cannot be stored"
    return f"contains a lone surrogate (\\u{ord(found.group()):04x}), which is not Unicode text"


def text_problems(value: Any, path: str) -> list[FieldError]:
    """Every string and object key in a decoded JSON value that cannot be stored, named by its path
    ("customer.name", "data.items[2].sku"; a bad key is named by the object holding it)."""
    problems = []
    for where, item, is_key in _walk(value, path):
        if isinstance(item, str) and (problem := text_problem(item)) is not None:
            problems.append(FieldError(where, f"has a key {quoted(item)} that {problem}" if is_key else problem))
    return problems


def number_problems(value: Any, path: str, message: str, *, below: int | None = None) -> list[FieldError]:
    """Every number in a decoded JSON value that cannot be stored (NaN, infinities, and integers too long to read,
    which amounts.read_json_int keeps as Decimal) or, given `below`, is not below it in size. `message` says what
    is allowed."""
    problems = []
    for where, item, is_key in _walk(value, path):
        if is_key or isinstance(item, bool) or not isinstance(item, int | float | Decimal):
            continue
        if not storable_number(item) or (below is not None and not -below < item < below):
            problems.append(FieldError(where, f"{quoted(item)} {message}"))
    return problems


def storable_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return not isinstance(value, Decimal)


def clean_text(text: str) -> str:
    """Text as it can be stored: NUL removed, a lone surrogate replaced by U+FFFD."""
    if UNSTORABLE.search(text) is None:
        return text
    return SURROGATE.sub(REPLACEMENT, text.replace("\x00", ""))


def needs_cleaning(value: Any) -> bool:
    """Whether cleaned(value) differs from value (checked without copying anything)."""
    for _where, item, _is_key in _walk(value, ""):
        if isinstance(item, str) and UNSTORABLE.search(item) is not None:
            return True
        if isinstance(item, float) and not math.isfinite(item):
            return True
    return False


def attributes_of(stored: Any) -> dict[str, Any]:
    """A customer's stored attributes as a dict of their own to read and merge into: cleaned when they need it, and
    empty when what is stored is not an object at all (a hand edit)."""
    if not isinstance(stored, dict):
        return {}
    return cleaned(stored) if needs_cleaning(stored) else dict(stored)


def cleaned(value: Any) -> Any:
    """A copy of a stored JSON value that both databases can store and JSON can carry: text and keys cleaned
    (clean_text), NaN and infinities as the text "NaN", "Infinity", "-Infinity"."""
    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any]] = [(value, root, 0)]  # (item, container of its copy, key or index there)
    while stack:
        item, into, at = stack.pop()
        if isinstance(item, dict):
            copy: Any = {}
            for key, child in item.items():
                name = clean_text(key) if isinstance(key, str) else key
                copy[name] = None
                stack.append((child, copy, name))
        elif isinstance(item, list):
            copy = [None] * len(item)
            stack.extend((child, copy, i) for i, child in enumerate(item))
        elif isinstance(item, str):
            copy = clean_text(item)
        elif isinstance(item, float) and not math.isfinite(item):
            copy = "NaN" if math.isnan(item) else ("Infinity" if item > 0 else "-Infinity")
        else:
            copy = item
        into[at] = copy
    return root[0]


def _walk(value: Any, path: str) -> Iterator[tuple[str, Any, bool]]:
    """(path, item, is_key) for every value and object key inside `value`, in document order."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        yield where, item, False
        if isinstance(item, dict):
            children = []
            for key, child in item.items():
                yield where, key, True
                children.append((_join(where, key), child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            stack.extend(reversed([(f"{where}[{i}]", child) for i, child in enumerate(item)]))


def _join(path: str, key: Any) -> str:
    name = str(key)
    if UNSTORABLE.search(name) is not None:  # the field name is shown and logged: no NUL in it
        name = name.encode("unicode_escape", "backslashreplace").decode("ascii")
    return f"{path}.{name}" if path else name
