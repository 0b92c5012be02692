"""A ticket's reference (C-1002) is reference_start + its id, and is never given twice: not after an erasure (ids
are never reused) and not after an admin lowered tickets.reference_start below references already given."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.core import Core
from tests.bot.storage.test_migration_ids_never_reused import complain
from tests.conftest import FixedClock, make_settings


async def test_after_reference_start_is_lowered_a_ticket_takes_the_next_reference_never_given(
    tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    first = Core(make_settings(tmp_path, database_url, flows_dir), clock=clock)
    assert not await first.prepare()
    try:
        assert [await complain(first, f"visitor-{n}", f"Customer {n}") for n in range(2)] == ["C-1001", "C-1002"]
    finally:
        await first.close()

    lowered = Core(make_settings(tmp_path, database_url, flows_dir, tickets={"reference_start": 999}), clock=clock)
    assert not await lowered.prepare()
    try:
        with caplog.at_level(logging.WARNING, logger="bot.tickets.records"):
            third = await complain(lowered, "visitor-2", "Customer 2")  # 999 + 3: C-1002 was given
            fourth = await complain(lowered, "visitor-3", "Customer 3")  # 999 + 4: C-1003 was just given
        assert (third, fourth) == ("C-1003", "C-1004")
        warnings = [r.getMessage() for r in caplog.records if r.name == "bot.tickets.records"]
        assert warnings == [
            "ticket reference C-1002 was given before (tickets.reference_start lowered?): this ticket is C-1003; "
            "set tickets.reference_start to 1000 or more",
            "ticket reference C-1003 was given before (tickets.reference_start lowered?): this ticket is C-1004; "
            "set tickets.reference_start to 1000 or more",
        ]
    finally:
        await lowered.close()

    raised = Core(make_settings(tmp_path, database_url, flows_dir, tickets={"reference_start": 1000}), clock=clock)
    assert not await raised.prepare()
    try:
        assert await complain(raised, "visitor-4", "Customer 4") == "C-1005"  # 1000 + 5, the warning followed
    finally:
        await raised.close()
