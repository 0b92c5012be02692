"""The weekly digest of the reports reaches Slack once a week on its day and hour (business time zone), under a fake
clock, and once only with two instances checking; it carries the week's figures and the link to the console."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

from bot.surveys.models import SurveyResponse
from handlers.server import build_app
from tests.bot.reports.seed import at, customers
from tests.conftest import FixedClock
from tests.handlers.slack.harness import SUPPORT, StaffSide, mrkdwn_texts, running, slack_settings
from tests.support.slack_standin import SlackApiStandIn

REPORTS_CHANNEL = SUPPORT


def nps(customer_id: int, score: int, when: str) -> SurveyResponse:
    return SurveyResponse(customer_id=customer_id, survey="nps", kind="nps", score=score, created_at=at(when))


async def seed(staff: StaffSide) -> None:
    """NPS in the week of 16 Feb: a promoter and a detractor (0); in the week of 23 Feb: 2 promoters, a passive."""
    async with staff.core.db.transaction() as s:
        c1, c2, c3 = await customers(s, *[("2026-01-01 00:00", "standard")] * 3)
        s.add_all([nps(c1.id, 10, "2026-02-17 12:00"), nps(c2.id, 2, "2026-02-18 12:00"),
                   nps(c1.id, 9, "2026-02-24 12:00"), nps(c2.id, 10, "2026-02-25 12:00"),
                   nps(c3.id, 8, "2026-03-01 23:30")])  # fmt: skip


async def queue_everywhere(instances: list[StaffSide]) -> int:
    queued = [await instance.core.weekly_digests.queue_due() for instance in instances]
    for instance in instances:
        await instance.dispatch()
    return sum(queued)


def digests(slack: SlackApiStandIn) -> list[dict]:
    return [p for p in slack.posts(REPORTS_CHANNEL) if p["text"].startswith("Weekly report")]


async def test_the_digest_is_posted_once_a_week_at_its_hour_even_with_two_instances(
    tmp_path: Path, database_url: str, flows_dir: Path, slack: SlackApiStandIn
) -> None:
    # Lisbon is on UTC in winter: Monday 2 March 2026, 09:00 there is 09:00 UTC.
    clock = FixedClock(at("2026-03-02 08:59"))
    settings = slack_settings(
        tmp_path, database_url, flows_dir, slack, business={"timezone": "Europe/Lisbon"},
        server={"public_url": "https://bot.example.com"},
        reports={"digest": {"channel": REPORTS_CHANNEL, "day": "mon", "hour": 9}},
    )  # fmt: skip
    async with AsyncExitStack() as stack:
        instances = [await stack.enter_async_context(running(build_app(settings, clock=clock, background=False), slack))
                     for _ in range(2)]  # fmt: skip
        await seed(instances[0])
        assert await queue_everywhere(instances) == 0  # a minute early
        assert digests(slack) == []

        clock.advance(minutes=1)
        assert await queue_everywhere(instances) == 1  # both instances look; one row
        (post,) = digests(slack)
        text = "\n".join(mrkdwn_texts(post["blocks"]))
        # 23 Feb - 1 Mar: promoters 2, passive 1 of 3 = +66.7; the week before: 1 - 1 of 2 = 0.
        assert "*NPS* +66.7 (3 answers), +66.7 on the week before" in text
        assert "https://bot.example.com/admin/reports?since=2026-02-23&amp;until=2026-03-01" in text or (
            "https://bot.example.com/admin/reports?since=2026-02-23&until=2026-03-01" in text
        )

        for hours in (1, 30, 100):  # later the same week: nothing more
            clock.advance(hours=hours)
            assert await queue_everywhere(instances) == 0
        assert len(digests(slack)) == 1

        clock.current = at("2026-03-09 09:05")  # the next Monday
        assert await queue_everywhere(instances) == 1
        assert len(digests(slack)) == 2
        assert digests(slack)[-1]["text"].startswith("Weekly report 02 Mar – 08 Mar 2026: NPS –")  # no answers


async def test_a_digest_missed_by_more_than_a_day_waits_for_the_next_week(
    tmp_path: Path, sqlite_url: str, flows_dir: Path, slack: SlackApiStandIn
) -> None:
    clock = FixedClock(at("2026-03-03 09:30"))  # Tuesday: Monday's digest was never queued (all instances down)
    settings = slack_settings(tmp_path, sqlite_url, flows_dir, slack,
                              reports={"digest": {"channel": REPORTS_CHANNEL, "day": "mon", "hour": 9}})  # fmt: skip
    async with running(build_app(settings, clock=clock, background=False), slack) as staff:
        assert await queue_everywhere([staff]) == 0
        assert digests(slack) == []
