"""Report CSV downloads open safely in a spreadsheet: a customer's words never run as a formula."""

from __future__ import annotations

import csv
import io

from handlers.report_csv import to_csv


def test_text_that_starts_a_formula_is_kept_as_text_and_numbers_stay_numbers() -> None:
    rows = [
        {"comment": '=HYPERLINK("http://evil.example","click")', "nps": -20, "score": "-3", "who": "@ana"},
        {"comment": "+1 great", "nps": 40.5, "score": "7", "who": "Ana"},
    ]
    got = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [r["comment"] for r in got] == ['\'=HYPERLINK("http://evil.example","click")', "'+1 great"]
    assert [(r["nps"], r["score"], r["who"]) for r in got] == [("-20", "-3", "'@ana"), ("40.5", "7", "Ana")]
