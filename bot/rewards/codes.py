"""Reward codes as text: made from a pool's template, or read from a CSV file."""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass

from bot.config.rewards import RANDOM_PART

# No look-alikes (0/O, 1/I/L): a customer reads the code aloud or types it from a screen.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
MAX_CODE = 100


def make(template: str) -> str:
    """A fresh code from a template such as "WELCOME-{random:8}"."""
    return RANDOM_PART.sub(lambda m: "".join(secrets.choice(ALPHABET) for _ in range(int(m.group(1)))), template)


@dataclass(frozen=True)
class ReadCodes:
    codes: list[str]
    # "line N: why" for every row that is not a usable code.
    problems: list[str]
    # Rows whose code came earlier in the same file.
    repeated: int = 0


def read_csv(text: str) -> ReadCodes:
    """The codes of a CSV file: the `code` column when the header names one, else the first column. Blank rows are
    skipped; a code repeated in the file counts once."""
    rows = list(csv.reader(io.StringIO(text)))
    column, start = 0, 0
    if rows:
        header = [cell.strip().lower() for cell in rows[0]]
        if "code" in header:
            column, start = header.index("code"), 1
    codes: dict[str, None] = {}
    problems: list[str] = []
    repeated = 0
    for number, row in enumerate(rows[start:], start=start + 1):
        cell = row[column].strip() if len(row) > column else ""
        if not cell:
            if any(c.strip() for c in row):
                problems.append(f"line {number}: no code in column {column + 1}")
            continue
        if len(cell) > MAX_CODE or not cell.isprintable():
            problems.append(f"line {number}: not a usable code (printable, up to {MAX_CODE} characters)")
            continue
        if cell in codes:
            repeated += 1
        codes[cell] = None
    return ReadCodes(list(codes), problems, repeated)
