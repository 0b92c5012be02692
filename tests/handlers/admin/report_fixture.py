"""One business's data for the report pages' tests (in-process and in Chromium), in New York time with the clock at
NOW; the right answers are worked out by hand next to the rows, and asserted by the tests that import them."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest

from bot.conversations.models import ACTIVE, CANCELLED, DONE
from bot.conversations.steplog import ANSWERED, ENTERED
from bot.core import Core
from bot.outreach.models import SENT, SKIPPED, CampaignRun
from tests.bot.reports.seed import ZONE, add, at, customers
from tests.bot.reports.test_reports import _tickets, decision, event, message, nps, run, step
from tests.conftest import STARTER_FLOWS, FixedClock, _create_pg_database, _drop_pg_database, make_settings
from tests.handlers.admin.support import add_account
from tests.handlers.test_webchat import serving

NOW = at("2026-03-20 12:00")  # a Friday; 08:00 in New York
RANGE = {"since": "2026-02-15", "until": "2026-03-20", "by": "week"}
STAFF = [{"key": "ana", "name": "Ana Lima"}, {"key": "rui", "name": "Rui Costa"}]
BUSINESS = {"timezone": ZONE, "name": "Lisbon Bikes"}

# NPS, each customer's latest answer in the range: promoters c1 (10), c2 (9); passive c3 (7); detractors c4 (3, which
# replaced their 10), c5 (6): NPS (2 - 2) / 5 = 0. Per week (Mondays, New York): 23 Feb c1 -> 100; 2 Mar c2, c3 and
# c4's 10 -> (2 - 0) / 3 = 66.7; 9 Mar c4's 3, c5's 6 -> -100.
NPS_PERIODS = [("2026-02-23", "100"), ("2026-03-02", "66.7"), ("2026-03-09", "-100")]
NPS_CSV = (
    "period,nps,responses,promoters,passives,detractors,promoters_pct,detractors_pct\n"
    "2026-02-23,100.0,1,1,0,0,100.0,0.0\n"
    "2026-03-02,66.7,3,2,1,0,66.7,0.0\n"
    "2026-03-09,-100.0,2,0,0,2,0.0,100.0\n"
)
# Tickets (the reports' own test data, tests/bot/reports/test_reports.py): T1 (ana, high, delivery) answered in
# time, resolved late; T2 (ana, delivery) answered late, resolved in time, reopened; T3 (rui, a handoff) answered in
# time, resolution still running; T4 (nobody, billing) never answered, both clocks past: first response met 2 of 4
# (50%), resolution met 1 of 3 (33.3%), 3 tickets breached; complaints T1, T2 (delivery) and T4 (billing).


async def seed(core: Core) -> None:
    async with core.db.transaction() as s:
        c1, c2, c3, c4, c5, c6 = await customers(
            s, ("2026-01-01 00:00", "gold"), *[("2026-01-01 00:00", "standard")] * 5
        )
        (c7,) = await customers(s, ("2026-03-01 15:00", "standard"))  # the March cohort, active in March
        await add(s,
            nps(c1.id, 10, "2026-03-02 03:00", "love it"),  # Sunday 1 March 22:00 in New York: week of 23 Feb
            nps(c2.id, 9, "2026-03-03 15:00"),
            nps(c3.id, 7, "2026-03-04 15:00"),
            nps(c4.id, 10, "2026-03-05 15:00", "great"),
            nps(c4.id, 3, "2026-03-10 15:00", "slow"),
            nps(c5.id, 6, "2026-03-11 15:00"),
            nps(c6.id, 0, "2026-02-01 15:00", "before the range"),
            message(c7.id, "2026-03-05 15:00"),
        )  # fmt: skip
        await add(s,
            # Churn: c1 (price) back within 30 days; c2 (not_using, said in the flow); c3 (no reason).
            event(c1.id, "cancelled", "2026-03-03 12:00", reason="price"),
            event(c1.id, "purchased", "2026-03-19 10:00"),
            run(c2.id, "cancellation", "2026-03-05 12:00", answers={"reason": "not_using", "still_cancel": True}),
            event(c2.id, "cancelled", "2026-03-06 12:00"),
            event(c3.id, "cancelled", "2026-03-12 12:00"),
        )  # fmt: skip
        # A campaign occurrence: sent to c1 (who pressed a button the next hour) and c2 (silent); c3 skipped.
        spring = CampaignRun(campaign="spring", occurrence="standard@2026-03-09", status="planned", planned=3,
                             due_at=at("2026-03-09 14:00"), started_at=at("2026-03-09 13:00"), tiers=[],
                             cursor=0)  # fmt: skip
        await add(s, spring)
        await add(s,
            decision(c1.id, spring.id, SENT, "2026-03-09 14:00"),
            decision(c2.id, spring.id, SENT, "2026-03-09 14:01"),
            decision(c3.id, spring.id, SKIPPED, "2026-03-09 14:00", "opted out"),
            message(c1.id, "2026-03-09 15:00", choice="f:value_tips"),
        )  # fmt: skip
        # The nps flow: four runs reach `score` (step 1), three answer it; three reach why_promoter (step 3), one
        # answers. Dropped: d at `score` (quiet for two days), b at why_promoter (cancelled); c is still talking.
        a, b, c, d = (run(x.id, "nps", "2026-03-10 12:00", status=st)
                      for x, st in ((c2, DONE), (c3, CANCELLED), (c4, ACTIVE), (c5, ACTIVE)))  # fmt: skip
        await add(s, a, b, c, d)
        c.updated_at = NOW - timedelta(hours=1)
        d.updated_at = NOW - timedelta(days=2)
        # Per run, the seconds each step took to answer (None: never answered), through score then why_promoter.
        took = {a: (60, 60), b: (30, None), c: (90, None), d: (None,)}
        entries = []
        for each, seconds in took.items():
            moment = at("2026-03-10 12:00")
            for (index, step_id), answer_after in zip(((0, "score"), (2, "why_promoter")), seconds, strict=False):
                entries.append(step(each.id, index, ENTERED, moment, step_id))
                if answer_after is not None:
                    moment += timedelta(seconds=answer_after)
                    entries.append(step(each.id, index, ANSWERED, moment, step_id))
        await add(s, *entries)
    await _tickets(core)  # their customer is the eighth


@asynccontextmanager
async def report_site(request: pytest.FixtureRequest, folder: Path, database: str) -> AsyncIterator[str]:
    """The whole app on a free port over the seeded data (on `database`: sqlite or postgresql, migrated from the
    session's template), with a viewer `vic`; the pages only read, so the tests of a module share one."""
    if database == "sqlite":
        path = folder / "engagebot.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        url, name = f"sqlite+aiosqlite:///{path}", None
    else:
        name, url = await _create_pg_database(request.getfixturevalue("_postgres_template"))
    try:
        flows = folder / "flows"
        shutil.copytree(STARTER_FLOWS, flows)
        settings = make_settings(folder, url, flows, business=BUSINESS, staff=STAFF)
        core = Core(settings, clock=FixedClock(NOW))
        await core.prepare_storage()
        try:
            await seed(core)
        finally:
            await core.close()
        await add_account(settings, "vic", "viewer")
        async with serving(settings, FixedClock(NOW)) as base:
            yield base
    finally:
        if name is not None:
            await _drop_pg_database(name)
