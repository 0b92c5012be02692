"""The retention playbook's settings: defaults that work out of the box, and mistakes refused with a clear line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import load_settings
from bot.config.winback import WinbackSettings
from bot.core import Core
from bot.retention.resurvey import months_before
from bot.retention.winback import structured
from bot.tickets.models import Ticket
from bot.yamlsource import SourceError
from tests.conftest import Chat, FixedClock, make_settings


def problems(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        load_settings(path, env={})
    return "\n".join(str(p) for p in caught.value.problems)


def test_the_defaults_ask_at_day_7_offer_at_day_30_and_bring_news_at_day_90() -> None:
    settings = load_settings(env={})
    assert [(s.after_days, s.flow) for s in settings.winback.steps] == [
        (7, "winback_ask"), (30, "winback_offer"), (90, "winback_news")]  # fmt: skip
    assert settings.winback.fixable_reasons == ("price", "problem", "service")
    assert settings.crosssell.rules == {} and settings.resurvey.every_months == 6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("winback: {fixable_reasons: [price, weather]}\n", "fixable_reasons ['weather'] are not in reasons"),
        ("crosssell: {rules: {Beans: {bought: a, offer: b, text: t}}}\n", "rule name 'Beans'"),
        ("crosssell: {rules: {beans: {bought: a, offer: b}}}\n", "text"),
        ("resurvey: {every_months: 0}\n", "every_months"),
        ("activation: {nudges: [{after_days: -1, flow: activation_nudge}]}\n", "after_days"),
    ],
)
def test_mistakes_are_refused_with_the_line_and_what_is_wrong(tmp_path: Path, text: str, expected: str) -> None:
    said = problems(tmp_path, text)
    assert "config.yaml:1" in said and expected in said, said


@pytest.mark.parametrize(
    ("reason", "details", "expected"),
    [
        ("price", "Too dear", ("price", "Too dear")),
        ("Service", None, ("service", None)),
        ("Moving abroad", "Back next year", ("other", "Moving abroad: Back next year")),
        (None, "  ", ("other", None)),
        (42, None, ("other", "42")),
    ],
)
def test_a_reason_is_one_of_the_list_or_other_with_its_words_kept(
    reason: object, details: object, expected: tuple[str, str | None]
) -> None:
    assert structured(WinbackSettings(), reason, details) == expected


def test_months_are_calendar_months_and_the_31st_becomes_the_month_s_last_day() -> None:
    assert months_before(datetime(2026, 6, 2, 9, tzinfo=UTC), 3) == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert months_before(datetime(2026, 5, 31, tzinfo=UTC), 3) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 6) == datetime(2025, 7, 15, tzinfo=UTC)


async def test_the_cancellation_flow_sends_the_configured_fixable_reasons_to_a_person_as_a_save_attempt(
    tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock
) -> None:
    settings = make_settings(tmp_path, database_url, flows_dir, winback={"fixable_reasons": ["switching"]})
    core = Core(settings, clock=clock)
    await core.prepare()
    try:
        for address, reason in (("1", "I'm switching to something else"), ("2", "It's too expensive")):
            chat = Chat(core, channel="web", address=address, name="Ana")
            await chat.say("I want to cancel my subscription")
            if "Do you still want to cancel?" not in await chat.press(reason):
                assert "Do you still want to cancel?" in await chat.say("A friend's company")
            assert "passed your cancellation request on" in await chat.press("Yes")
        async with core.db.sessions() as session:
            categories = list((await session.execute(select(Ticket.category).order_by(Ticket.id))).scalars())
        assert categories == ["retention", "cancellation"]  # switching is fixable here; price is not
    finally:
        await core.close()
