"""The docs say what the product ships: the starter flows' page lists every starter flow and counts them right."""

from __future__ import annotations

import re

from tests.conftest import REPO, STARTER_FLOWS

FLOWS_PAGE = REPO / "docs" / "flows.md"


def test_the_flows_page_lists_every_starter_flow_and_counts_them() -> None:
    page = FLOWS_PAGE.read_text(encoding="utf-8")
    table = page.split("## The starter flows", 1)[1]
    files = sorted(path.name for path in STARTER_FLOWS.glob("*.yaml"))
    assert files and [name for name in files if f"`{name}`" not in table] == []
    (said,) = re.findall(r"`(\d+) flows OK: ", page)
    assert int(said) == len(files)
