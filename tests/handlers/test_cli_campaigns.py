"""`engagebot campaigns ...`, run as a shell runs it (tests/support/cli.py) against a database with customers in it."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from bot.config import load_settings
from bot.core import Core
from bot.customers.models import ChannelIdentity, Customer
from bot.outbox.models import DONE, OutboxItem
from bot.outreach.models import CampaignRun, DeliveryDecision
from bot.storage.database import Database
from tests.conftest import STARTER_FLOWS
from tests.handlers.test_cli_tickets import engagebot, failed, ok, query

CONFIG = """\
business:
  name: Acme
  timezone: Pacific/Auckland
tiers:
  default: standard
  rules:
    - tier: core
      top_percent: 20
campaigns:
  thanks:
    title: Thank you
    kind: thank_you
    audience:
      tiers: [core, standard]
    message: "{{ customer.first_name }}, thank you from {{ business.name }}!"
    buttons:
      - label: Tips
        flow: value_tips
  tips:
    kind: tip
    schedule:
      core: "0 10 1 * *"
      "*": "0 10 1 1,4,7,10 *"
    flow: value_tips
  broken:
    flow: value_tipz
  paused:
    enabled: false
    message: Hello
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir()
    shutil.copy(STARTER_FLOWS / "value_tips.yaml", tmp_path / "flows" / "value_tips.yaml")
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


@pytest.fixture
async def customers(database_url: str) -> None:
    """Two core customers and one standard one who chat with us, one who opted out, one who never wrote."""
    db = Database(database_url)
    await db.upgrade()
    now = datetime.now(UTC)
    people = [
        ("Ana Lima", "core", True, True), ("Bruno Costa", "core", True, True), ("Carla Dias", "standard", True, True),
        ("Olga Opted", "standard", False, True), ("Nico Nochat", "core", True, False),
    ]  # fmt: skip
    try:
        async with db.transaction() as session:
            for n, (name, tier, subscribed, chats) in enumerate(people, start=1):
                await session.execute(insert(Customer).values(
                    id=n, display_name=name, tier=tier, subscribed=subscribed, unreachable=False, attributes={},
                    tags=[], created_at=now - timedelta(days=100),
                ))  # fmt: skip
                if chats:
                    await session.execute(
                        insert(ChannelIdentity).values(customer_id=n, channel="web", address=f"v{n}", created_at=now)
                    )
    finally:
        await db.dispose()


def run(workdir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return engagebot(workdir, "campaigns", *args, database_url=database_url)


@pytest.mark.usefixtures("customers")
async def test_preview_shows_the_audience_per_tier_who_is_left_out_and_real_messages(
    workdir: Path, database_url: str
) -> None:
    shown = ok(run(workdir, database_url, "preview", "thanks", "--sample", "5"))
    lines = shown.splitlines()
    assert lines[:5] == [
        "thanks: Thank you, a message",
        "audience now: 3 customers",
        "  core                2",
        "  standard            1",
        "left out: 1 opted out, 1 no chat identity",
    ]
    assert lines[5] == "sample (the message):"
    samples = "\n".join(lines[6:])
    for n, name, tier in ((1, "Ana Lima", "core"), (2, "Bruno Costa", "core"), (3, "Carla Dias", "standard")):
        assert f"  #{n} {name} ({tier}):" in samples
        first_name = name.split()[0]
        assert f"    {first_name}, thank you from Acme!\n    [Tips]" in samples + "\n", samples
    assert "Olga" not in samples and "Nico" not in samples

    flow = ok(run(workdir, database_url, "preview", "tips", "--sample", "1"))
    assert "sample (first message of the flow):" in flow
    assert "    Tip of the week: you can reach a person on our team" in flow


@pytest.mark.usefixtures("customers")
async def test_send_queues_each_customer_once_even_when_run_twice_and_follows_to_the_end(
    workdir: Path, database_url: str
) -> None:
    first = ok(run(workdir, database_url, "send", "thanks"))
    today = re.search(r"\(manual@(\d{4}-\d\d-\d\d)\)", first)
    assert today is not None, first
    occurrence = f"manual@{today.group(1)}"
    assert first.splitlines() == [
        f"queued 3 messages for thanks ({occurrence})",
        "outbox: 3 pending",
        "`engagebot run` sends them within the delivery policy; see `engagebot campaigns status thanks`",
    ]
    again = ok(run(workdir, database_url, "send", "thanks"))
    assert again.splitlines()[:2] == [f"thanks {occurrence} was planned before (3 messages): nothing added",
                                      "outbox: 3 pending"]  # fmt: skip
    rows = await query(database_url, select(OutboxItem.customer_id).order_by(OutboxItem.customer_id))
    assert rows == [1, 2, 3]
    assert await query(database_url, select(CampaignRun.occurrence)) == [occurrence]

    # What the server's dispatcher leaves behind: two sent, one held for quiet hours.
    (run_id,) = await query(database_url, select(CampaignRun.id))
    await deliver(database_url, run_id, {1: ("sent", "allowed"), 2: ("sent", "allowed"),
                                          3: ("held", "quiet hours (22:10 in Pacific/Auckland)")})  # fmt: skip
    status = ok(run(workdir, database_url, "status", "thanks"))
    assert status.splitlines()[0].startswith(f"{occurrence}  planned  3 messages  due ")
    assert status.splitlines()[1:] == [
        "  outbox: 2 done, 1 pending",
        "  delivery: 1 held (quiet hours 1); 2 sent (allowed 2)",
        "showing 1–1 of 1 occurrence",
    ]
    assert ok(run(workdir, database_url, "status", "thanks", "--offset", "1")) == (
        "none from --offset 1: there is 1 occurrence\n"
    )
    await deliver(database_url, run_id, {3: ("sent", "allowed")})
    followed = ok(run(workdir, database_url, "send", "thanks", "--follow"))
    assert followed.splitlines()[1:] == ["outbox: 3 done", "delivery: 1 held (quiet hours 1); 3 sent (allowed 3)"]


async def deliver(database_url: str, run_id: int, outcome: dict[int, tuple[str, str]]) -> None:
    """Record what the dispatcher would: a decision per row, and sent rows finished."""
    now = datetime.now(UTC)
    for customer_id, (decision, reason) in outcome.items():
        (row_id,) = await query(database_url, select(OutboxItem.id).where(OutboxItem.customer_id == customer_id))
        await query(database_url, insert(DeliveryDecision).values(
            outbox_id=row_id, customer_id=customer_id, campaign_run_id=run_id, kind="campaign", decision=decision,
            reason=reason, created_at=now,
        ))  # fmt: skip
        if decision == "sent":
            finished = update(OutboxItem).where(OutboxItem.id == row_id).values(status=DONE, finished_at=now)
            await query(database_url, finished)


MISTAKES: list[tuple[tuple[str, ...], str]] = [
    (("preview", "broken"), "engagebot: campaign 'broken' names flow 'value_tipz', which does not exist "
                            '(did you mean "value_tips"?)'),
    (("send", "broken"), "engagebot: campaign 'broken' names flow 'value_tipz', which does not exist "
                         '(did you mean "value_tips"?)'),
    (("send", "paused"), "engagebot: campaign 'paused' is disabled (enabled: false; enable it in the console or "
                         "config.yaml)"),
    (("send", "thank"), "engagebot: unknown campaign 'thank' (did you mean \"thanks\"?); "
                        "known: broken, paused, thanks, tips"),
]  # fmt: skip


@pytest.mark.usefixtures("customers")
@pytest.mark.parametrize(("args", "error"), MISTAKES, ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
async def test_a_campaign_that_cannot_be_sent_is_refused_with_the_reason(
    workdir: Path, database_url: str, args: tuple[str, ...], error: str
) -> None:
    assert failed(run(workdir, database_url, *args)) == error
    assert await query(database_url, select(CampaignRun.id)) == []


def test_list_shows_each_campaign_with_its_schedule_per_tier(workdir: Path) -> None:
    listed = ok(engagebot(workdir, "campaigns", "list"))
    assert "thanks  [thank_you, a message]  Thank you\n  audience: tiers core, standard\n" in listed
    assert "  no schedule: sent with `engagebot campaigns send`" in listed
    tips = listed.split("tips  [tip, starts flow value_tips]\n")[1].splitlines()
    assert tips[0] == "  audience: every tier"
    assert re.fullmatch(r"  core +0 10 1 \* \* +next \d{4}-\d\d-01 10:00 Pacific/Auckland", tips[1]), tips
    assert re.fullmatch(
        r"  other tiers +0 10 1 1,4,7,10 \* +next \d{4}-(01|04|07|10)-01 10:00 Pacific/Auckland", tips[2]
    ), tips
    assert "paused  [other, a message]  (disabled)" in listed


@pytest.mark.usefixtures("customers")
async def test_during_quiet_hours_preview_warns_and_send_says_until_when_messages_are_held(
    workdir: Path, database_url: str
) -> None:
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    config = CONFIG.replace("timezone: Pacific/Auckland", "timezone: UTC")
    (workdir / "config.yaml").write_text(config + f'outreach:\n  quiet_hours: {{start: "{start}", end: "{end}"}}\n')
    because = f"inside {start}-{end} (outreach.quiet_hours), when proactive messages wait for a decent hour"

    preview = run(workdir, database_url, "preview", "thanks")
    assert preview.returncode == 0, preview.stderr
    assert preview.stderr.startswith("warning: sent now, messages would be held. quiet hours: it is ")
    assert because in preview.stderr and f"held until {end}" in preview.stderr

    ok(run(workdir, database_url, "send", "thanks"))
    (run_id,) = await query(database_url, select(CampaignRun.id))
    await deliver(database_url, run_id, {3: ("held", f"quiet hours ({now:%H:%M} in UTC)")})
    again = ok(run(workdir, database_url, "send", "thanks")).splitlines()
    assert again[1:3] == ["outbox: 3 pending", "delivery: 1 held (quiet hours 1)"]
    assert because in again[3] and f"they are held until {end}" in again[3] and "UTC" in again[3]


async def test_the_commands_read_the_campaign_store_and_import_refuses_an_edit_over_the_console(
    workdir: Path, database_url: str
) -> None:
    ok(run(workdir, database_url, "list"))  # imports config.yaml's campaigns
    # An admin edits "paused" in the console (as the console does: the next version in the store).
    settings = load_settings(workdir / "config.yaml", {"DATABASE_URL": database_url})
    core = Core(settings)
    try:
        await core.prepare_storage()
        enabled = core.settings.campaigns["paused"].model_dump(mode="json") | {"enabled": True, "title": "Back"}
        await core.campaign_console.save("paused", enabled, author="ana", expected_head=1)
    finally:
        await core.close()
    assert "paused  [other, a message]  Back" in ok(run(workdir, database_url, "list"))
    config = workdir / "config.yaml"
    config.write_text(config.read_text().replace("message: Hello", "message: Hello there"), encoding="utf-8")
    refused = run(workdir, database_url, "import")
    assert refused.returncode == 1 and 'campaign "paused": config.yaml was edited' in refused.stderr
    assert "paused  [other, a message]  Back" in ok(run(workdir, database_url, "list"))
    forced = ok(run(workdir, database_url, "import", "--force"))
    assert "paused: version 3, imported from config.yaml (--force, over a console change)" in forced
    assert "paused  [other, a message]  (disabled)" in ok(run(workdir, database_url, "list"))
