"""What every report returns: the whole range's figures, the trend per period, and named lists of rows (per person,
the breaches, the comments...). Plain data, so the CLI, the console and the Slack digest render the same thing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]


@dataclass(frozen=True)
class Report:
    name: str
    figures: Mapping[str, Any]  # the whole range: top level of the JSON
    periods: Sequence[Row] | None = None  # one row per period with data, oldest first; None where no trend exists
    tables: Mapping[str, Sequence[Row]] = field(default_factory=dict)
    # The list a CSV export holds (the periods, or one of the tables).
    primary: str = "periods"
    span: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """{report, since, until, by, tier, <figures>, periods?, <tables>}: the shape docs/reports.md describes."""
        data: dict[str, Any] = {"report": self.name, **self.span, **self.figures}
        if self.periods is not None:
            data["periods"] = list(self.periods)
        for name, rows in self.tables.items():
            data[name] = list(rows)
        return data

    def rows(self, name: str | None = None) -> Sequence[Row]:
        """One list by name (`periods` or a table); the primary one by default."""
        name = name or self.primary
        if name == "periods":
            return list(self.periods or [])
        if name not in self.tables:
            raise KeyError(name)
        return list(self.tables[name])

    @property
    def lists(self) -> list[str]:
        return (["periods"] if self.periods is not None else []) + list(self.tables)
