"""Routing as a pure function: who gets a ticket, in which order the options are tried, and why."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.config import RoutingSettings, StaffMember, load_settings
from bot.tickets.routing import TicketFacts, TicketRouter, Workload
from bot.yamlsource import SourceError
from tests.conftest import REPO

WEEKDAYS = {"days": ("mon", "tue", "wed", "thu", "fri")}

# Ana works in Lisbon (UTC+0 in early March), Ben in New York (UTC-5 until the US clocks change on
# 8 March 2026, then UTC-4), Cara in Tokyo (UTC+9). Lea, the on-call lead, has no fixed hours.
TEAM = (
    StaffMember(key="ana", name="Ana Lima", categories=("delivery", "product"), tiers=("standard",),
                languages=("en", "pt"), capacity=2, backup="ben",
                working_hours={**WEEKDAYS, "start": "09:00", "end": "17:00", "timezone": "Europe/Lisbon"}),
    StaffMember(key="ben", name="Ben Hall", categories=("billing", "delivery"), languages=("en", "de"), capacity=2,
                backup="ana",
                working_hours={**WEEKDAYS, "start": "09:00", "end": "17:00", "timezone": "America/New_York"}),
    StaffMember(key="cara", name="Cara Sato", tiers=("core",), capacity=3, backup="ben",
                working_hours={**WEEKDAYS, "start": "09:00", "end": "18:00", "timezone": "Asia/Tokyo"}),
    StaffMember(key="lea", name="Lea Novak", capacity=2),
)  # fmt: skip

ROUTING = RoutingSettings.model_validate(
    {
        "pools": {
            "support": {"members": ["ana", "ben"], "strategy": "round_robin"},
            "billing": {"members": ["ben", "ana"], "strategy": "least_loaded"},
        },
        "rules": [
            {"match": {"severity": "critical"}, "to": "lea"},
            {"match": {"category": "billing"}, "to": "billing"},
            {"match": {"category": "delivery", "language": ["en", "pt"]}, "to": "support"},
        ],
        "fallback": "lea",
    }
)

# Monday 2 March 2026 in UTC: at 09:00 only Lisbon works; at 15:00 Lisbon and New York; at 01:00 only Tokyo.
MON_0900 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MON_1500 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
MON_2000 = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
TUE_0100 = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
SAT_1200 = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)


def facts(**changes: Any) -> TicketFacts:
    return replace(TicketFacts(category="delivery", severity="normal", tier="standard", language="en"), **changes)


def load(open_tickets: dict[str, int] | None = None, last_hour: dict[str, int] | None = None) -> Workload:
    """Open tickets per person; `last_hour` is the hour (on Monday 2 March) each was last assigned a ticket."""
    last = {k: datetime(2026, 3, 2, hour, 0, tzinfo=UTC) for k, hour in (last_hour or {}).items()}
    return Workload(open_tickets=open_tickets or {}, last_assigned=last)


def router(team: tuple[StaffMember, ...] = TEAM, **routing: Any) -> TicketRouter:
    return TicketRouter(team, ROUTING.model_copy(update=routing))


CASES = [
    # --- 1. the account manager, then their backup ---
    pytest.param(facts(tier="core", account_manager="cara"), load(), TUE_0100, {}, "cara",
                 "the customer's account manager", id="account manager in their hours"),
    pytest.param(facts(tier="core", account_manager="cara"), load(), MON_1500, {}, "ben",
                 "backup of account manager cara", id="account manager asleep in Tokyo: their backup"),
    pytest.param(facts(tier="core", account_manager="cara"), load({"cara": 3}), MON_1500, {}, "ben",
                 "account manager cara: at capacity (3/3 open)", id="account manager full: their backup"),
    pytest.param(facts(category="product", tier="core", account_manager="cara"), load(), MON_0900, {}, "lea",
                 "backup ben: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-17:00 America/New_York)",
                 id="account manager and backup both away: the rules, then fitting staff"),
    pytest.param(facts(account_manager="nobody"), load(), MON_0900, {}, "ana",
                 "account manager nobody: not in the staff directory", id="account manager not in the directory"),
    # --- 2. whoever handled the customer's last ticket ---
    pytest.param(facts(previous_handler="ben"), load({"ana": 0, "ben": 1}), MON_1500, {}, "ben",
                 "handled the customer's last ticket", id="previous handler available"),
    pytest.param(facts(previous_handler="ben"), load({"ben": 2}), MON_1500, {}, "ana",
                 "previous handler ben: at capacity (2/2 open)", id="previous handler full: the rules"),
    pytest.param(facts(category="product", previous_handler="ben"), load(), MON_1500, {}, "ana",
                 "previous handler ben: does not handle this category, tier or language",
                 id="previous handler does not do this category"),
    pytest.param(facts(previous_handler="ben"), load(last_hour={"ana": 7, "ben": 8}), MON_1500,
                 {"prefer_previous_handler": False}, "ana", "round robin in support: ana is next",
                 id="previous handler preference switched off"),
    # --- 3. the first matching rule ---
    pytest.param(facts(severity="critical", account_manager=None), load(), SAT_1200, {}, "lea", "rule 1",
                 id="rule to a person"),
    pytest.param(facts(), load(last_hour={"ana": 14, "ben": 13}), MON_1500, {}, "ben",
                 "round robin in support: ben is next", id="round robin: assigned longest ago goes next"),
    pytest.param(facts(), load(last_hour={"ana": 13, "ben": 14}), MON_1500, {}, "ana",
                 "round robin in support: ana is next", id="round robin: the other way round"),
    pytest.param(facts(), load(last_hour={"ana": 13}), MON_1500, {}, "ben",
                 "round robin in support: ben is next", id="round robin: never assigned goes first"),
    pytest.param(facts(category="billing"), load({"ben": 1}), MON_1500, {}, "ana",
                 "least loaded in billing: ana (0 open)", id="least loaded"),
    pytest.param(facts(category="billing"), load({"ben": 1, "ana": 1}), MON_1500, {}, "ben",
                 "least loaded in billing: ben (1 open)", id="least loaded: a tie goes to the first member"),
    pytest.param(facts(), load({"ana": 2}, {"ana": 1}), MON_1500, {}, "ben", "  ana: at capacity (2/2 open)",
                 id="capacity full"),
    pytest.param(facts(), load(), MON_0900, {}, "ana",
                 "  ben: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-17:00 America/New_York)",
                 id="09:00 UTC: New York is asleep"),
    pytest.param(facts(), load(), MON_2000, {}, "ben",
                 "  ana: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-17:00 Europe/Lisbon)",
                 id="20:00 UTC: Lisbon has gone home"),
    pytest.param(facts(), load(), datetime(2026, 3, 2, 13, 30, tzinfo=UTC), {}, "ana",
                 "  ben: outside working hours", id="13:30 UTC before the US clocks change: NY 08:30"),
    pytest.param(facts(), load(last_hour={"ana": 8}), datetime(2026, 3, 9, 13, 30, tzinfo=UTC), {}, "ben",
                 "round robin in support: ben is next", id="13:30 UTC after the US clocks change: NY 09:30"),
    # --- 4. anyone whose categories, tiers and languages fit ---
    pytest.param(facts(language="de"), load(), MON_1500, {}, "ben", "staff fitting category 'delivery': ben, lea",
                 id="language no rule covers: fitting staff"),
    pytest.param(facts(category="product", language="de"), load(), MON_1500, {}, "lea",
                 "staff fitting category 'product': lea", id="language mismatch: ana does not speak German"),
    pytest.param(facts(category="product", tier="core"), load(), TUE_0100, {}, "cara",
                 "staff fitting category 'product': cara, lea", id="tier: core goes to who serves core"),
    pytest.param(facts(category="product"), load({"lea": 0}), MON_0900, {}, "ana",
                 "staff fitting category 'product': ana, lea", id="tier mismatch: cara only serves core"),
    pytest.param(facts(category="returns"), load({"lea": 1}), SAT_1200, {}, "lea", "fits the ticket, least loaded",
                 id="no rule: the least loaded who fits"),
    # --- 5. the fallback lead, then nobody ---
    pytest.param(facts(category="returns"), load({"lea": 2}), SAT_1200, {}, "lea", "on-call lead (fallback)",
                 id="everyone full or away: the fallback, whatever their load"),
    pytest.param(facts(category="returns"), load({"lea": 2}), SAT_1200, {"fallback": None}, None,
                 "nobody available and no fallback configured: the ticket waits unassigned", id="nobody"),
]  # fmt: skip


@pytest.mark.parametrize(("ticket", "workload", "now", "routing", "expected", "reason"), CASES)
def test_routing_picks_the_named_person(
    ticket: TicketFacts, workload: Workload, now: datetime, routing: dict[str, Any], expected: str | None, reason: str
) -> None:
    decision = router(**routing).choose_assignee(ticket, workload, now)
    assert decision.staff_key == expected, decision.explain()
    assert any(reason in line for line in decision.reasons), decision.explain()


def test_the_reasons_tell_the_whole_story_in_order() -> None:
    decision = router().choose_assignee(
        facts(category="delivery", tier="core", account_manager="cara", previous_handler="ben"),
        load({"ana": 2}),
        MON_0900,
    )
    assert decision.staff_key == "lea"
    assert decision.reasons == (
        "account manager cara: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-18:00 Asia/Tokyo)",
        "backup ben: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-17:00 America/New_York)",
        "previous handler ben: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-17:00 America/New_York)",
        "rule 3 matches (category=delivery, language=en|pt) -> support",
        "  ana: at capacity (2/2 open)",
        "  ben: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-17:00 America/New_York)",
        "  nobody available in support",
        "staff fitting category 'delivery': ben, cara, lea",
        "  ben: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-17:00 America/New_York)",
        "  cara: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-18:00 Asia/Tokyo)",
        "  least loaded in fitting staff: lea (0 open)",
        "-> Lea Novak (lea): fits the ticket, least loaded",
    )
    assert decision.explain() == "\n".join(decision.reasons)


def test_round_robin_rotates_as_tickets_are_assigned() -> None:
    route, now = router(), MON_1500
    last: dict[str, datetime] = {}
    chosen = []
    for minute in range(5):
        moment = now.replace(minute=minute)
        key = route.choose_assignee(facts(), Workload(last_assigned=last), moment).staff_key
        assert key is not None
        chosen.append(key)
        last = {**last, key: moment}
    assert chosen == ["ana", "ben", "ana", "ben", "ana"]


def test_inactive_people_get_nothing_not_even_as_the_fallback() -> None:
    team = tuple(m.model_copy(update={"active": m.key == "ana"}) for m in TEAM)
    away = router(team).choose_assignee(facts(category="returns"), load(), SAT_1200)
    assert away.staff_key is None
    assert away.reasons[-1] == "nobody available and the fallback lea is inactive: the ticket waits unassigned"
    assert "  lea: inactive" in away.reasons

    as_manager = router(team).choose_assignee(facts(account_manager="cara"), load(), MON_1500)
    assert as_manager.staff_key == "ana"
    assert as_manager.reasons[:2] == ("account manager cara: inactive", "backup ben: inactive")


def test_without_staff_nobody_is_chosen() -> None:
    decision = TicketRouter((), RoutingSettings()).choose_assignee(facts(), Workload(), MON_1500)
    assert decision.staff_key is None
    assert decision.reasons == ("nobody available and no fallback configured: the ticket waits unassigned",)


# ---- the example team in examples/team.yaml ------------------------------------------------------------

SHIPPED = [
    pytest.param(facts(), MON_0900, "maria", "rule 5", id="delivery at 09:00 UTC: Lisbon works, New York sleeps"),
    pytest.param(facts(category="billing"), MON_1500, "tom", "least loaded in billing: tom", id="billing pool"),
    pytest.param(facts(category="product", language="pt"), MON_1500, "maria", "rule 4", id="Portuguese"),
    pytest.param(facts(severity="critical"), SAT_1200, "dana", "rule 1", id="critical: the on-call lead"),
    pytest.param(facts(tier="core", account_manager="priya"), MON_0900, "priya", "account manager",
                 id="a core customer's account manager"),
    pytest.param(facts(tier="core", account_manager="priya"), SAT_1200, "dana", "backup of account manager priya",
                 id="the account manager's weekend: their backup"),
    pytest.param(facts(category="service"), SAT_1200, "dana", "fits the ticket", id="weekend: the lead"),
]  # fmt: skip


@pytest.mark.parametrize(("ticket", "now", "expected", "reason"), SHIPPED)
def test_the_example_team_routes_as_its_comments_say(
    ticket: TicketFacts, now: datetime, expected: str, reason: str
) -> None:
    shipped = load_settings(REPO / "examples" / "team.yaml", env={})
    decision = TicketRouter(shipped.staff, shipped.routing).choose_assignee(ticket, Workload(), now)
    assert decision.staff_key == expected, decision.explain()
    assert any(reason in line for line in decision.reasons), decision.explain()


TYPOS = [
    pytest.param("    backup: tom ", "    backup: tomm ",
                 'unknown staff key "tomm" (did you mean "tom"?)', id="backup"),
    pytest.param("members: [maria, tom]", "members: [maria, thom]",
                 'unknown staff key "thom" (did you mean "tom"?)', id="pool member"),
    pytest.param("      to: billing ", "      to: biling ",
                 'unknown staff key or pool "biling" (did you mean "billing"?)', id="rule to a pool"),
    pytest.param("      to: priya\n", "      to: pirya\n",
                 'unknown staff key or pool "pirya" (did you mean "priya"?)', id="rule to a person"),
    pytest.param("  fallback: dana ", "  fallback: dan ",
                 'unknown staff key "dan" (did you mean "dana"?)', id="fallback"),
    pytest.param("  - key: priya\n", "  - key: tom\n",
                 'staff key "tom" is used twice', id="a key used twice"),
]  # fmt: skip


@pytest.mark.parametrize(("original", "typo", "message"), TYPOS)
def test_a_staff_key_that_routing_names_must_exist(tmp_path: Path, original: str, typo: str, message: str) -> None:
    """A typo would silently route nowhere: it stops start-up with the file, line and a suggestion."""
    text = (REPO / "examples" / "team.yaml").read_text(encoding="utf-8")
    assert text.count(original) == 1, original
    config = tmp_path / "config.yaml"
    config.write_text(text.replace(original, typo), encoding="utf-8")
    line = text[: text.index(original)].count("\n") + 1
    with pytest.raises(SourceError) as refused:
        load_settings(config, env={})
    assert str(refused.value.problems[0]) == f"{config}:{line}: {message}"
