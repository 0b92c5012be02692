"""A report's rows as CSV and as text cells: one way for the CLI (`engagebot reports NAME --format csv`) and the
console's downloads, so both give the same columns."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

from bot.reports import Row

# What a spreadsheet reads as the start of a formula. Cells hold customers' own words (comments, names), so such a
# text is written with a leading ' and shown as text; numbers ("-12", "-0.5") stay numbers.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


def spreadsheet_safe(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_START) and not NUMBER.match(text) else text


def to_csv(rows: Sequence[Row]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: spreadsheet_safe(cell(value)) for key, value in row.items()} for row in rows)
    return out.getvalue()


def columns(rows: Sequence[Row]) -> list[str]:
    """Every key of the rows, in the order they first appear."""
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return list(names)


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)
