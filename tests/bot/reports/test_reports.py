"""Every report's figures against fixtures whose right answers are worked out by hand below, on SQLite and
PostgreSQL, in a business time zone with a DST change inside the range (America/New_York, 8 March 2026)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot.conversations.models import ACTIVE, CANCELLED, DONE, ConversationRun
from bot.conversations.steplog import ANSWERED, ENTERED, StepEntry
from bot.core import Core
from bot.customers.models import CustomerEvent
from bot.outreach.models import HELD, SENT, SKIPPED, CampaignRun, DeliveryDecision
from bot.reports import ReportQuery
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Staff, Ticket
from bot.transcript.models import INBOUND, OUTBOUND, Message
from tests.bot.reports.seed import ZONE, add, at, customers
from tests.conftest import FixedClock, make_settings

NOW = at("2026-03-20 12:00")
RANGE = ReportQuery(since=date(2026, 2, 15), until=date(2026, 3, 20))


@pytest.fixture
async def core(tmp_path: Path, database_url: str, flows_dir: Path) -> AsyncIterator[Core]:
    staff = [{"key": "ana", "name": "Ana Lima"}, {"key": "rui", "name": "Rui Costa"}]
    settings = make_settings(tmp_path, database_url, flows_dir, business={"timezone": ZONE}, staff=staff)
    core = Core(settings, clock=FixedClock(NOW))
    await core.prepare_storage()
    try:
        yield core
    finally:
        await core.close()


def nps(customer_id: int, score: int, when: str, comment: str | None = None) -> SurveyResponse:
    return SurveyResponse(customer_id=customer_id, survey="nps", kind="nps", score=score, comment=comment,
                          created_at=at(when))  # fmt: skip


async def test_nps_counts_each_customers_latest_answer_and_trends_by_local_week(core: Core) -> None:
    async with core.db.transaction() as s:
        c1, c2, c3, c4, c5, c6 = await customers(
            s, *[("2026-01-01 00:00", "gold")] + [("2026-01-01 00:00", "standard")] * 5
        )
        await add(s,
            nps(c1.id, 10, "2026-03-02 03:00", "love it"),  # Sunday 1 March 22:00 in New York: week of 23 Feb
            nps(c2.id, 9, "2026-03-03 15:00"),
            nps(c3.id, 7, "2026-03-04 15:00"),
            nps(c4.id, 10, "2026-03-05 15:00", "great"),  # replaced by c4's later 3 in the range, not in its week
            nps(c4.id, 3, "2026-03-10 15:00", "slow"),
            nps(c5.id, 6, "2026-03-11 15:00", ""),
            nps(c6.id, 0, "2026-02-01 15:00", "before the range"),
            SurveyResponse(customer_id=c6.id, survey="csat", kind="csat", score=1, created_at=at("2026-03-03 15:00")),
        )  # fmt: skip
    report = (await core.reports.run("nps", RANGE)).as_json()
    # Promoters c1 (10), c2 (9); passive c3 (7); detractors c4 (3), c5 (6): (2 - 2) / 5.
    assert {k: report[k] for k in ("nps", "responses", "promoters", "passives", "detractors")} == {
        "nps": 0.0, "responses": 5, "promoters": 2, "passives": 1, "detractors": 2}  # fmt: skip
    assert [(p["period"], p["nps"], p["responses"], p["promoters"], p["passives"], p["detractors"])
            for p in report["periods"]] == [
        ("2026-02-23", 100.0, 1, 1, 0, 0),
        ("2026-03-02", 66.7, 3, 2, 1, 0),  # c2 9, c3 7, and c4's 10 (their latest in that week)
        ("2026-03-09", -100.0, 2, 0, 0, 2),
    ]  # fmt: skip
    # Every comment of the range with the score it came with, newest first (c4's earlier one too).
    assert [(c["comment"], c["score"], c["group"]) for c in report["comments"]] == [
        ("slow", 3, "detractor"), ("great", 10, "promoter"), ("love it", 10, "promoter")]  # fmt: skip
    gold = (await core.reports.run("nps", ReportQuery(RANGE.since, RANGE.until, tier="gold"))).as_json()
    assert (gold["nps"], gold["responses"]) == (100.0, 1)
    by_month = (await core.reports.run("nps", ReportQuery(RANGE.since, RANGE.until, by="month"))).as_json()
    # c1's answer is on 1 March in New York (2 March in UTC): March holds every counted answer, c4 once (their 3).
    assert [(p["period"], p["responses"], p["nps"]) for p in by_month["periods"]] == [("2026-03-01", 5, 0.0)]
    everything = (await core.reports.run("nps", ReportQuery())).as_json()
    assert (everything["responses"], everything["detractors"]) == (6, 3)


async def _people(core: Core) -> tuple[Staff, Staff]:
    async with core.db.sessions() as s:
        from sqlalchemy import select

        staff = {m.key: m for m in (await s.execute(select(Staff))).scalars()}
    return staff["ana"], staff["rui"]


def ticket(customer_id: int, opened: str, **fields: object) -> Ticket:
    created = at(opened)
    values: dict[str, object] = {"kind": "complaint", "category": "general", "severity": "normal",
                                 "status": "assigned", "reopened_count": 0}  # fmt: skip
    values.update(fields)
    for key in ("first_response_due", "first_responded_at", "resolution_due", "resolved_at"):
        if isinstance(values.get(key), (int, float)):
            values[key] = created + timedelta(hours=float(values[key]))  # type: ignore[arg-type]
    return Ticket(customer_id=customer_id, created_at=created, updated_at=created, **values)


async def _tickets(core: Core) -> list[Ticket]:
    ana, rui = await _people(core)
    async with core.db.transaction() as s:
        (c1,) = await customers(s, ("2026-01-01 00:00", "standard"))
        rows = [
            ticket(c1.id, "2026-03-02 10:00", ref="T1", severity="high", category="delivery", assignee_id=ana.id,
                   first_response_due=1, first_responded_at=0.5, resolution_due=24, resolved_at=48, csat_score=5),
            ticket(c1.id, "2026-03-05 10:00", ref="T2", category="delivery", assignee_id=ana.id, first_response_due=4,
                   first_responded_at=5, resolution_due=48, resolved_at=24, csat_score=2, reopened_count=1),
            ticket(c1.id, "2026-03-10 10:00", ref="T3", kind="handoff", assignee_id=rui.id, first_response_due=4,
                   first_responded_at=1, resolution_due=24 * 15),  # resolution still running at NOW
            ticket(c1.id, "2026-03-15 10:00", ref="T4", category="billing", first_response_due=4, resolution_due=48),
            ticket(c1.id, "2026-02-01 10:00", ref="T0", first_response_due=1),  # before the range
        ]  # fmt: skip
        await add(s, *rows)
        await add(s,
            SurveyResponse(customer_id=c1.id, survey="ticket_csat", kind="csat", score=5, ticket_id=rows[0].id,
                           created_at=at("2026-03-04 12:00")),
            SurveyResponse(customer_id=c1.id, survey="ticket_csat", kind="csat", score=2, ticket_id=rows[1].id,
                           created_at=at("2026-03-06 12:00")),
            SurveyResponse(customer_id=c1.id, survey="ticket_csat", kind="csat", score=1, ticket_id=rows[2].id,
                           created_at=at("2026-03-11 12:00")),
            SurveyResponse(customer_id=c1.id, survey="ticket_csat", kind="csat", score=4, ticket_id=rows[2].id,
                           created_at=at("2026-03-12 12:00")),  # replaces the 1 on the same ticket
            SurveyResponse(customer_id=c1.id, survey="csat", kind="csat", score=4, created_at=at("2026-03-13 12:00")),
        )  # fmt: skip
        return rows


async def test_csat_overall_and_per_staff_person(core: Core) -> None:
    await _tickets(core)
    report = (await core.reports.run("csat", RANGE)).as_json()
    # Counted: 5 (T1, Ana), 2 (T2, Ana), 4 (T3, Rui; replaced the 1), 4 (no ticket): 3 of 4 are 4 or 5.
    assert (report["csat"], report["responses"], report["satisfied"], report["average"]) == (75.0, 4, 3, 3.75)
    assert [(p["staff"], p["responses"], p["csat"], p["average"]) for p in report["per_person"]] == [
        ("(no ticket)", 1, 100.0, 4.0), ("ana", 2, 50.0, 3.5), ("rui", 1, 100.0, 4.0)]  # fmt: skip


async def test_sla_met_and_missed_per_severity_and_person_and_the_breaches(core: Core) -> None:
    await _tickets(core)
    report = (await core.reports.run("sla", RANGE)).as_json()
    # First response: T1 and T3 in time, T2 late, T4 never answered past its due: 2 of 4.
    # Resolution: T2 in time, T1 late, T4 open past its due; T3's clock still runs: 1 of 3.
    assert {k: report[k] for k in ("tickets", "first_response_met", "first_response_missed", "first_response_pct",
                                   "resolution_met", "resolution_missed", "resolution_pct", "breached_tickets")} == {
        "tickets": 4, "first_response_met": 2, "first_response_missed": 2, "first_response_pct": 50.0,
        "resolution_met": 1, "resolution_missed": 2, "resolution_pct": 33.3, "breached_tickets": 3}  # fmt: skip
    assert [(r["severity"], r["first_response_pct"], r["resolution_pct"]) for r in report["per_severity"]] == [
        ("high", 100.0, 0.0), ("normal", 33.3, 50.0)]  # fmt: skip
    assert [(r["staff"], r["tickets"], r["first_response_pct"], r["resolution_pct"]) for r in report["per_person"]] == [
        ("(unassigned)", 1, 0.0, 0.0), ("ana", 2, 50.0, 50.0), ("rui", 1, 100.0, None)]  # fmt: skip
    assert [(b["ref"], b["missed"]) for b in report["breaches"]] == [
        ("T1", ["resolution"]), ("T2", ["first_response"]), ("T4", ["first_response", "resolution"])]  # fmt: skip
    assert [(p["period"], p["tickets"]) for p in report["periods"]] == [("2026-03-02", 2), ("2026-03-09", 2)]


async def test_complaints_volume_categories_timings_reopens_and_csat(core: Core) -> None:
    await _tickets(core)
    report = (await core.reports.run("complaints", RANGE)).as_json()
    # T1, T2, T4 (T3 is a hand-off). First response 0.5 h and 5 h; resolution 48 h and 24 h; T2 reopened;
    # ticket scores 5 and 2: one of two satisfied.
    assert {k: report[k] for k in ("tickets", "avg_hours_to_first_response", "avg_hours_to_resolution", "reopened",
                                   "reopen_rate", "csat_after_resolution", "csat_responses")} == {
        "tickets": 3, "avg_hours_to_first_response": 2.8, "avg_hours_to_resolution": 36.0, "reopened": 1,
        "reopen_rate": 33.3, "csat_after_resolution": 50.0, "csat_responses": 2}  # fmt: skip
    # T4 opened Sunday 15 March 06:00 in New York: still the week of 9 March.
    assert [(p["period"], p["tickets"], p["categories"]) for p in report["periods"]] == [
        ("2026-03-02", 2, {"delivery": 2}), ("2026-03-09", 1, {"billing": 1})]  # fmt: skip
    assert [(c["category"], c["tickets"], c["share"]) for c in report["categories"]] == [
        ("delivery", 2, 66.7), ("billing", 1, 33.3)]  # fmt: skip


def event(customer_id: int, name: str, when: str, **data: object) -> CustomerEvent:
    return CustomerEvent(customer_id=customer_id, name=name, data=data, occurred_at=at(when), received_at=at(when))


def run(customer_id: int, flow: str, started: str, status: str = DONE, **fields: object) -> ConversationRun:
    return ConversationRun(customer_id=customer_id, flow_id=flow, flow_version="v1", status=status,
                           started_at=at(started), updated_at=at(started), **fields)  # fmt: skip


async def test_churn_by_reason_tier_tenure_and_win_back(core: Core) -> None:
    async with core.db.transaction() as s:
        c1, c2, c3, c4 = await customers(
            s,
            ("2026-01-01 00:00", "gold"),
            ("2025-01-01 00:00", "standard"),
            ("2026-03-01 00:00", "standard"),
            ("2026-01-01 00:00", "standard"),
        )
        await add(s,
            event(c1.id, "cancelled", "2026-03-03 12:00", reason="price"),
            event(c1.id, "purchased", "2026-03-20 10:00"),  # back after 17 days
            run(c2.id, "cancellation", "2026-03-05 12:00", answers={"reason": "not_using", "still_cancel": True}),
            event(c2.id, "cancelled", "2026-03-06 12:00"),  # the reason is the one given in the flow
            event(c2.id, "activated", "2026-05-01 12:00"),  # back after 56 days
            event(c3.id, "cancelled", "2026-03-12 12:00"),
            run(c4.id, "cancellation", "2026-03-07 12:00", answers={"reason": "price", "still_cancel": False}),
            event(c4.id, "cancelled", "2026-01-10 12:00", reason="price"),  # before the range
        )  # fmt: skip
    report = (await core.reports.run("churn", RANGE)).as_json()
    assert {k: report[k] for k in ("cancellations", "won_back_30d", "win_back_30d_pct", "won_back_90d",
                                   "win_back_90d_pct")} == {
        "cancellations": 3, "won_back_30d": 1, "win_back_30d_pct": 33.3, "won_back_90d": 2,
        "win_back_90d_pct": 66.7}  # fmt: skip
    assert sorted((r["reason"], r["cancellations"], r["won_back_90d"]) for r in report["by_reason"]) == [
        ("not_using", 1, 1), ("price", 1, 1), ("unknown", 1, 0)]  # fmt: skip
    assert [(r["tier"], r["cancellations"]) for r in report["by_tier"]] == [("standard", 2), ("gold", 1)]
    # Tenure at cancellation: c1 61 days, c2 429 days, c3 11 days.
    assert sorted((r["tenure"], r["cancellations"]) for r in report["by_tenure"]) == [
        ("30-89 days", 1), ("365 days or more", 1), ("under 30 days", 1)]  # fmt: skip
    assert [(r["reason"], r["started"], r["still_cancel"], r["stayed"]) for r in report["flow_requests"]] == [
        ("not_using", 1, 1, 0), ("price", 1, 0, 1)]  # fmt: skip
    assert [(p["period"], p["cancellations"], p["reasons"]) for p in report["periods"]] == [
        ("2026-03-02", 2, {"price": 1, "not_using": 1}), ("2026-03-09", 1, {"unknown": 1})]  # fmt: skip


def message(customer_id: int, when: str, direction: str = INBOUND, **payload: object) -> Message:
    return Message(customer_id=customer_id, direction=direction, channel="web", text="hi", payload=payload,
                   created_at=at(when))  # fmt: skip


def decision(customer_id: int, run_id: int, verdict: str, when: str, reason: str = "") -> DeliveryDecision:
    return DeliveryDecision(customer_id=customer_id, campaign_run_id=run_id, kind="send", decision=verdict,
                            reason=reason, created_at=at(when))  # fmt: skip


async def test_campaigns_per_occurrence_with_what_customers_did_after(core: Core) -> None:
    async with core.db.transaction() as s:
        c1, c2, c3 = await customers(s, *[("2026-01-01 00:00", "standard")] * 3)
        tips = CampaignRun(
            campaign="tips",
            occurrence="core@2026-03-02",
            status="planned",
            planned=3,
            due_at=at("2026-03-02 10:00"),
            started_at=at("2026-03-02 09:00"),
            tiers=[],
            cursor=0,
        )
        old = CampaignRun(
            campaign="tips",
            occurrence="core@2026-01-05",
            status="planned",
            planned=9,
            due_at=at("2026-01-05 10:00"),
            started_at=at("2026-01-05 09:00"),
            tiers=[],
            cursor=0,
        )
        await add(s, tips, old)
        c2.opted_out_at = at("2026-03-04 08:00")
        await add(s,
            decision(c2.id, tips.id, HELD, "2026-03-02 09:00", "quiet hours"),
            decision(c1.id, tips.id, SENT, "2026-03-02 10:00"),
            decision(c2.id, tips.id, SENT, "2026-03-02 10:00"),
            decision(c3.id, tips.id, SKIPPED, "2026-03-02 10:00", "opted out"),
            message(c1.id, "2026-03-02 12:00"),  # a reply
            message(c1.id, "2026-03-10 12:00"),  # too late to count
            message(c2.id, "2026-03-03 09:00", choice="f:tips"),  # a reply that is a button press
            message(c3.id, "2026-03-02 12:00", OUTBOUND),
            run(c1.id, "value_tips", "2026-03-02 10:00", context={"trigger": {"campaign": "tips"}}),
            run(c2.id, "value_tips", "2026-03-02 10:00", status=CANCELLED, context={"trigger": {"campaign": "tips"}}),
        )  # fmt: skip
    report = (await core.reports.run("campaigns", RANGE)).as_json()
    (row,) = report["occurrences"]
    assert {k: row[k] for k in ("campaign", "occurrence", "planned", "sent", "skipped", "skipped_by_reason",
                                "replied", "pressed", "opted_out", "flows_completed")} == {
        "campaign": "tips", "occurrence": "core@2026-03-02", "planned": 3, "sent": 2, "skipped": 1,
        "skipped_by_reason": {"opted out": 1}, "replied": 2, "pressed": 1, "opted_out": 1,
        "flows_completed": 1}  # fmt: skip
    assert {k: report[k] for k in ("planned", "sent", "skipped", "replied")} == {
        "planned": 3, "sent": 2, "skipped": 1, "replied": 2}  # the January occurrence is outside the range  # fmt: skip


def step(run_id: int, index: int, event_: str, when: datetime, step_id: str) -> StepEntry:
    return StepEntry(run_id=run_id, flow_id="nps", flow_version="v1", step_index=index, step_id=step_id,
                     step_kind="ask", event=event_, at=when)  # fmt: skip


async def test_flows_reached_answered_dropped_and_median_time_to_answer(core: Core) -> None:
    t = at("2026-03-10 12:00")
    async with core.db.transaction() as s:
        c1, c2, c3, c4 = await customers(s, *[("2026-01-01 00:00", "standard")] * 4)
        a = run(c1.id, "nps", "2026-03-10 12:00")
        b = run(c2.id, "nps", "2026-03-10 12:00", status=CANCELLED)
        c = run(c3.id, "nps", "2026-03-10 12:00", status=ACTIVE)
        d = run(c4.id, "nps", "2026-03-10 12:00", status=ACTIVE)
        await add(s, a, b, c, d)
        c.updated_at = NOW - timedelta(hours=1)  # still talking
        d.updated_at = NOW - timedelta(days=2)  # gone quiet at the first question
        sec = timedelta(seconds=1)
        await add(s,
            step(a.id, 0, ENTERED, t, "score"), step(a.id, 0, ANSWERED, t + 60 * sec, "score"),
            step(a.id, 1, ENTERED, t + 60 * sec, "comment"), step(a.id, 1, ANSWERED, t + 120 * sec, "comment"),
            step(b.id, 0, ENTERED, t, "score"), step(b.id, 0, ANSWERED, t + 30 * sec, "score"),
            step(b.id, 1, ENTERED, t + 30 * sec, "comment"),
            step(c.id, 0, ENTERED, t, "score"), step(c.id, 0, ANSWERED, t + 90 * sec, "score"),
            step(c.id, 1, ENTERED, t + 90 * sec, "comment"),
            step(d.id, 0, ENTERED, t, "score"),
        )  # fmt: skip
    report = (await core.reports.run("flows", RANGE)).as_json()
    assert [(r["step"], r["reached"], r["answered"], r["dropped"], r["median_seconds_to_answer"])
            for r in report["steps"]] == [("score", 4, 3, 1, 60.0), ("comment", 3, 1, 1, 60.0)]  # fmt: skip
    assert (report["runs_started"], report["dropped"]) == (4, 2)


async def test_retention_active_customers_per_signup_month_cohort(core: Core) -> None:
    async with core.db.transaction() as s:
        c1, c2, c3 = await customers(
            s, ("2026-01-10 12:00", "standard"), ("2026-01-20 12:00", "standard"), ("2026-02-05 12:00", "standard")
        )
        await add(s,
            message(c1.id, "2026-01-10 13:00"), message(c1.id, "2026-02-15 13:00"),
            event(c2.id, "purchased", "2026-01-25 12:00"),
            message(c2.id, "2026-02-10 12:00", OUTBOUND),  # the bot writing is not the customer being active
            message(c3.id, "2026-03-01 04:00"),  # 28 February, 23:00 in New York
            message(c3.id, "2026-03-05 12:00"),
        )  # fmt: skip
    report = (await core.reports.run("retention", ReportQuery(date(2026, 1, 1), date(2026, 3, 20)))).as_json()
    assert [(r["cohort"], r["customers"], r["active"], r["active_pct"]) for r in report["cohorts"]] == [
        ("2026-01", 2, [2, 1], [100.0, 50.0]), ("2026-02", 1, [1, 1], [100.0, 100.0])]  # fmt: skip
    # In March (the range's last month) only c3 (February's cohort) was active.
    assert (report["customers"], report["active_in_last_month"]) == (3, 1)


async def test_drill_down_lists_the_rows_behind_each_figure(core: Core) -> None:
    from bot.reports.drilldown import Page

    await _tickets(core)
    # The CSAT answers counted for Ana: T1's 5 and T2's 2 (T3's replaced 1 is not counted anywhere).
    ana = await core.reports.rows("answers", RANGE, "csat", staff="ana")
    assert [(a["score"], a["ticket_id"] is not None) for a in ana] == [(2, True), (5, True)]
    unsatisfied = await core.reports.rows("answers", RANGE, "csat", group="unsatisfied")
    assert [a["score"] for a in unsatisfied] == [2]
    # The SLA breaches of first response, and the complaints of the week of 9 March (T4 only: T3 is a hand-off).
    late = await core.reports.rows("tickets", RANGE, missed="first_response")
    assert [(t["ref"], t["missed"]) for t in late] == [
        ("T2", ["first_response"]),
        ("T4", ["first_response", "resolution"]),
    ]
    week = await core.reports.rows("tickets", RANGE, kind="complaint", period="2026-03-09")
    assert [t["ref"] for t in week] == ["T4"]
    assert [t["ref"] for t in await core.reports.rows("tickets", RANGE, staff="(unassigned)")] == ["T4"]
    assert [t["ref"] for t in await core.reports.rows("tickets", RANGE, page=Page(limit=2, offset=1))] == ["T2", "T3"]
    with pytest.raises(ValueError):
        Page(limit=0)


async def test_drill_down_of_nps_by_period_and_group_and_of_cancellations(core: Core) -> None:
    async with core.db.transaction() as s:
        c1, c2 = await customers(s, ("2026-01-01 00:00", "gold"), ("2026-01-01 00:00", "standard"))
        await add(s, nps(c1.id, 10, "2026-03-03 15:00"), nps(c1.id, 4, "2026-03-10 15:00"),
                  nps(c2.id, 9, "2026-03-11 15:00"),
                  event(c1.id, "cancelled", "2026-03-12 12:00", reason="price"),
                  event(c2.id, "cancelled", "2026-03-13 12:00"))  # fmt: skip
    promoters = await core.reports.rows("answers", RANGE, "nps", group="promoter")
    assert [(a["customer_id"], a["score"]) for a in promoters] == [(c2.id, 9)]  # c1's latest in the range is a 4
    first_week = await core.reports.rows("answers", RANGE, "nps", period="2026-03-02", group="promoter")
    assert [(a["customer_id"], a["score"]) for a in first_week] == [(c1.id, 10)]
    priced = await core.reports.rows("cancellations", RANGE, reason="price")
    assert [(r["customer_id"], r["reason"], r["tier"]) for r in priced] == [(c1.id, "price", "gold")]
    assert [r["reason"] for r in await core.reports.rows("cancellations", RANGE, tier="standard")] == ["unknown"]
