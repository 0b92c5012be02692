"""Tickets without Slack: `engagebot tickets ...` and `engagebot routing explain`, run as a shell runs them (in this
process: tests/support/cli.py) from a working directory with a staff directory in its config.yaml."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Select, select, update

from bot.customers.models import Customer
from bot.outbox.models import PENDING, OutboxItem
from bot.storage.database import Database
from bot.surveys.models import SurveyResponse
from bot.transcript import Message
from tests.conftest import STARTER_FLOWS
from tests.support.cli import Completed, engagebot

CONFIG = """\
business:
  name: Acme
  timezone: Europe/London
staff:
  - key: dana
    name: Dana Okafor
    slack_user_id: U0EXAMPLE1
  - key: maria
    name: Maria Santos
    slack_user_id: U0EXAMPLE2
    categories: [delivery, product]
    backup: tom
  - key: tom
    name: Tom Becker
    categories: [billing, service]
    backup: maria
  - key: priya
    name: Priya Shah
    tiers: [core]
    backup: dana
    working_hours: {days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00", timezone: Europe/London}
routing:
  rules:
    - match: {category: delivery}
      to: maria
    - match: {category: billing}
      to: tom
  fallback: dana
"""
COMPLAINT = "/complain\nMy parcel never arrived\nOrder & delivery\nSkip\nQuite a lot\n"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "flows").mkdir()
    for name in ("complaint.yaml", "ticket_followup.yaml"):  # what a complaint runs through; fewer start faster
        shutil.copy(STARTER_FLOWS / name, tmp_path / "flows" / name)
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def ok(result: Completed) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def failed(result: Completed) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    return result.stderr.strip()


async def query(database_url: str, statement: Any) -> list[Any]:
    """Read (or change) the database the CLI runs on, as an admin would with psql or sqlite3."""
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            result = await session.execute(statement)
            return list(result.scalars()) if isinstance(statement, Select) else []
    finally:
        await db.dispose()


def row_of(listing: str, ref: str) -> list[str]:
    (row,) = [line for line in listing.splitlines() if line.startswith(ref)]
    return row.split()


async def test_a_complaint_worked_from_the_command_line_from_claim_to_csat(workdir: Path, database_url: str) -> None:
    def run(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> Completed:
        return engagebot(workdir, *args, database_url=database_url, stdin=stdin, env=env)

    chat = ok(run("chat", "--user", "ana", "--name", "Ana Lima", stdin=COMPLAINT))
    assert "Your reference is C-1001.\n     It's with Maria Santos, who will reply here within 8 hours" in chat

    listed = ok(run("tickets", "list"))
    assert listed.splitlines()[0].split() == [
        "ref", "status", "kind", "category", "severity", "assignee", "sla", "opened", "summary",
    ]  # fmt: skip
    row = row_of(listed, "C-1001")
    assert row[:8] == ["C-1001", "assigned", "complaint", "delivery", "normal", "Maria", "Santos", "due"]
    assert listed.splitlines()[-1] == "showing 1–1 of 1 open ticket"
    explained = ok(run("routing", "explain", "--customer", "1", "--category", "delivery"))
    assert explained.splitlines()[-1] == "would go to Maria Santos (maria)"

    assert ok(run("tickets", "claim", "C-1001", "--as", "maria")) == "Maria Santos claimed C-1001\n"
    # With Slack configured, `engagebot run` delivers (and posts to Slack): the CLI only queues.
    queued = ok(run("tickets", "reply", "C-1001", "--as", "maria", "We found it.", env={"SLACK_BOT_TOKEN": "xoxb-1"}))
    assert (
        queued
        == "sent to the customer of C-1001\nqueued: `engagebot run` delivers it (Slack or Telegram is configured)\n"
    )
    pending = await query(database_url, select(OutboxItem.kind).where(OutboxItem.status == PENDING))
    assert sorted(pending) == ["send", "staff_notice"]  # the reply, and the "claimed" notice for Slack

    assert ok(run("tickets", "note", "C-1001", "--as", "maria", "Depot mislabelled it")) == (
        "internal note added to C-1001\n"
    )
    mine = ok(run("tickets", "mine", "--as", "maria"))
    assert row_of(mine, "C-1001")[:2] == ["C-1001", "waiting_on_customer"]
    assert mine.splitlines()[-1] == "showing 1–1 of 1 open ticket"

    resolved = ok(
        run("tickets", "resolve", "C-1001", "--as", "maria", "--resolution", "A courier brings it today.",
            "--compensation", "free delivery on your next order")
    )  # fmt: skip
    assert resolved == "C-1001 resolved by Maria Santos; the customer is asked if it is solved\n"
    # Run at once: the reply and the follow-up are in the customer's transcript; only the follow-up
    # question's reminder and give-up (for a customer who never answers) wait in the outbox.
    said = await query(database_url, select(Message.text).where(Message.direction == "out").order_by(Message.id))
    assert said[-3:] == [
        "Maria Santos: We found it.",
        "Good news, Ana: Maria Santos has resolved your request C-1001.\nA courier brings it today.\n"
        "As an apology: free delivery on your next order",
        "Is your problem solved?",
    ]
    assert await query(database_url, select(OutboxItem.kind).where(OutboxItem.status == PENDING)) == [
        "remind_run",
        "remind_run",
    ]

    answered = ok(run("chat", "--user", "ana", stdin="yes\n4\n"))
    assert "bot: How satisfied are you with how Maria Santos handled it?" in answered
    assert "bot: Thank you for your patience" in answered
    # The survey's answer is a score: "solved" is the ticket's outcome, not a comment the customer wrote.
    csat = json.loads(ok(run("reports", "csat", "--format", "json")))
    assert (csat["responses"], csat["csat"]) == (1, 100), csat
    assert await query(database_url, select(SurveyResponse.comment)) == [None]

    shown = ok(run("tickets", "show", "C-1001"))
    assert shown.startswith("C-1001  closed  complaint/delivery  severity normal\n")
    for line in [
        "customer #1 Ana Lima (tier standard; cli)",
        "assignee: Maria Santos (maria); backup Tom Becker (tom)",
        "sla: -",
        "resolution: A courier brings it today.",
        "compensation: free delivery on your next order",
        "csat: 4/5",
    ]:
        assert line in shown.splitlines(), shown
    deadlines = [line for line in shown.splitlines() if " due: " in line]
    assert [line.split(":")[0] for line in deadlines] == ["first response due", "resolution due"]

    # The default list is of open tickets: it says so, and how to see the others.
    assert ok(run("tickets", "list")).splitlines() == [
        "no open tickets",
        "1 resolved or closed ticket is not shown: --status all lists every ticket",
    ]
    assert ok(run("tickets", "list", "--status", "all")).splitlines()[-1] == "showing 1–1 of 1 ticket"
    assert all(line.endswith(" (met)") for line in deadlines), deadlines
    timeline = [line.split()[2:4] for line in shown.split("timeline:\n")[1].splitlines()]
    assert timeline == [
        ["opened", "system"], ["assigned", "system"], ["claimed", "maria"], ["staff_reply", "maria"],
        ["note", "maria"], ["resolved", "maria"], ["closed", "customer"],
    ]  # fmt: skip

    # Ana becomes a core customer with an account manager: her next ticket would go to Priya, in Priya's hours.
    await query(database_url, update(Customer).values(tier="core", attributes={"account_manager": "priya"}))
    weekday = ok(run("routing", "explain", "--customer", "1", "--category", "delivery", "--at", "2026-03-09T10:00"))
    assert weekday.splitlines() == [
        "customer #1 Ana Lima: tier core, language -, account manager priya",
        "ticket: category delivery, severity normal, at 2026-03-09 10:00 Europe/London",
        "  -> Priya Shah (priya): the customer's account manager",
        "would go to Priya Shah (priya)",
    ]
    saturday = ok(run("routing", "explain", "--customer", "1", "--category", "billing", "--severity", "high",
                      "--at", "2026-03-07T10:00"))  # fmt: skip
    assert saturday.splitlines()[1:] == [
        "ticket: category billing, severity high, at 2026-03-07 10:00 Europe/London",
        "  account manager priya: outside working hours (Mon,Tue,Wed,Thu,Fri 09:00-17:00 Europe/London)",
        "  -> Dana Okafor (dana): backup of account manager priya",
        "would go to Dana Okafor (dana)",
    ]


KNOWN = "known: dana, maria, priya, tom (staff: in config.yaml)"
MISTAKES = [  # refused before the database is opened
    (("tickets", "claim", "C-1001", "--as", "mariaa"),
     f"engagebot: unknown staff key 'mariaa' (did you mean \"maria\"?); {KNOWN}"),
    (("tickets", "reassign", "C-1001", "--as", "maria", "--to", "tomm"),
     f"engagebot: unknown staff key 'tomm' (did you mean \"tom\"?); {KNOWN}"),
    (("tickets", "mine", "--as", "nobody"), f"engagebot: unknown staff key 'nobody'; {KNOWN}"),
    (("routing", "explain", "--customer", "7", "--category", "delivry"),
     "engagebot: unknown category 'delivry' (did you mean \"delivery\"?); known: billing, delivery, handoff, other, "
     "product, service"),
    (("routing", "explain", "--customer", "7", "--category", "billing", "--severity", "hihg"),
     "engagebot: unknown severity 'hihg' (did you mean \"high\"?); known: critical, high, low, normal"),
    (("tickets", "list", "--status", "resolvd"), "engagebot: unknown status 'resolvd' (did you mean \"resolved\"?); "
     "known: all, assigned, claimed, closed, in_progress, open, reopened, resolved, waiting_on_customer"),
]  # fmt: skip
UNKNOWN = [  # looked up in the database
    (("tickets", "claim", "C-9999", "--as", "maria"), "engagebot: no ticket C-9999"),
    (("tickets", "show", "C-9999"), "engagebot: no ticket C-9999"),
    (("routing", "explain", "--customer", "7", "--category", "billing"), "engagebot: no customer 7"),
    (("routing", "explain", "--customer", "ext:C-7", "--category", "billing"), "engagebot: no customer ext:C-7"),
]


def test_mistakes_get_a_clear_message_and_exit_1(workdir: Path) -> None:
    cases = [*UNKNOWN, *MISTAKES]
    for args, message in cases:
        result = engagebot(workdir, *args)
        assert (result.returncode, result.stdout, result.stderr.strip()) == (1, "", message), args


def test_without_a_staff_directory_nobody_can_act(tmp_path: Path) -> None:
    message = failed(engagebot(tmp_path, "tickets", "claim", "C-1001", "--as", "maria"))
    assert message == (
        "engagebot: 'maria' is not in the staff directory: nobody is (add people under `staff:` in config.yaml)"
    )
    assert not (tmp_path / "engagebot.db").exists()  # refused before touching the database


def test_routing_explain_refuses_a_bad_time(workdir: Path) -> None:
    result = engagebot(workdir, "routing", "explain", "--customer", "1", "--category", "x", "--at", "Saturday")
    assert result.returncode == 2
    assert "Invalid value for --at: 'Saturday' is not a date and time like 2026-03-07T10:00" in result.stderr
