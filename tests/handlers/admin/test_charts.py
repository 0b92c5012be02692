"""The SVG charts on their own: values in titles and printed, gaps, links, escaping, and no data."""

from __future__ import annotations

import re

from handlers.admin.charts import Bar, Series, bar_chart, line_chart


def test_a_line_shows_each_value_and_breaks_where_a_period_has_no_data() -> None:
    svg = line_chart("NPS per week", ["2026-03-02", "2026-03-09", "2026-03-16"],
                     [Series("NPS", [50.0, None, -20.0], ["/a", None, "/c"])], y_range=(-100, 100))  # fmt: skip
    assert re.findall(r"<title>([^<]+)</title>", svg) == ["NPS per week", "2026-03-02: 50", "2026-03-16: -20"]
    assert "<polyline" not in svg  # no line across the missing week
    assert svg.count('<a href="/a" class="point"') == 1 and svg.count('<a href="/c" class="point"') == 1
    assert ">100</text>" in svg and ">-100</text>" in svg  # the axis spans the range asked for
    assert ">03-09</text>" in svg  # every period labelled, the year left to the range above the chart


def test_several_series_get_a_key_and_no_printed_values() -> None:
    svg = line_chart("Cohorts", ["month 0", "month 1"], [Series("2026-01", [100.0, 50.0]), Series("2026-02", [80.0])])
    assert 'class="key s0"' in svg and 'class="key s1"' in svg
    assert 'class="value"' not in svg
    assert "<title>2026-01, month 1: 50</title>" in svg


def test_bars_link_to_their_rows_and_labels_are_escaped() -> None:
    svg = bar_chart("By reason", [Bar("<price>", 3, "/rows?reason=%3Cprice%3E"), Bar("other", 1)], unit="")
    assert '<a href="/rows?reason=%3Cprice%3E" class="bar" data-label="&lt;price&gt;" data-value="3">' in svg
    assert "<price>" not in svg
    assert '<g class="bar" data-label="other" data-value="1">' in svg


def test_no_data_says_so_instead_of_an_empty_drawing() -> None:
    assert "No data in this range" in line_chart("x", [], [])
    assert "No data in this range" in bar_chart("x", [Bar("a", None)])
