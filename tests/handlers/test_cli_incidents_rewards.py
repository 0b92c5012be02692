"""`engagebot incidents ...` and `engagebot rewards ...` in-process (click's runner) against a SQLite file: what an
operator types and reads, and the one-line refusals for bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.customers.models import ChannelIdentity, Customer
from bot.storage.database import Database
from handlers.cli import main

CONFIG = """\
rewards:
  pools:
    sorry: {title: Apology voucher, description: 10% off}
    welcome: {template: "WELCOME-{random:8}"}
"""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "flows").mkdir()
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'engagebot.db'}")
    return tmp_path


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


async def _customers(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
        async with db.transaction() as session:
            ana = Customer(display_name="Ana", tags=["wholesale"])
            rui = Customer(display_name="Rui")
            session.add_all([ana, rui])
            await session.flush()
            session.add(ChannelIdentity(customer_id=ana.id, channel="web", address="ana"))
    finally:
        await db.dispose()


def test_incidents_from_the_command_line(workdir: Path) -> None:
    asyncio.run(_customers(f"sqlite+aiosqlite:///{workdir / 'engagebot.db'}"))
    texts = ("--title", "Payments down", "--what-happened", "Card payments fail.", "--what-we-do", "Fixing it.")
    opened = ok(run("incidents", "open", *texts, "--next-update", "2h", "--tag", "wholesale"))
    assert opened.splitlines()[:2] == ["incident #1 opened: Payments down",
                                       "affected: 1 customer; notice queued for 1 customer"]  # fmt: skip
    assert "#1  open     normal" in ok(run("incidents", "list"))
    updated = ok(run("incidents", "update", "1", "-m", "Half of the cards work again."))
    assert "incident #1 updated" in updated
    assert "incident #1 resolved" in ok(run("incidents", "resolve", "1", "-m", "All good."))
    shown = ok(run("incidents", "show", "1"))
    assert "status: resolved" in shown and "affected: tagged wholesale" in shown
    assert "customers: 1 affected, 0 notified" in shown  # queued: the running server sends them
    assert "  customer #1: not notified" in shown
    assert "  1 update: Half of the cards work again." in shown and "complaints: 0" in shown

    refused = run("incidents", "update", "1", "-m", "again")
    assert refused.exit_code == 1 and "incident #1 is already resolved" in refused.output
    assert run("incidents", "show", "9").exit_code == 1
    nobody = run("incidents", "open", "--title", "x", "--what-happened", "y", "--what-we-do", "z")
    assert nobody.exit_code == 2 and "say who is affected" in nobody.output
    window = run(
        "incidents", "open", "--title", "x", "--what-happened", "y", "--what-we-do", "z", "--since", "2026-01-01"
    )
    assert window.exit_code == 2 and "name it" in window.output
    late = run("incidents", "open", "--title", "x", "--what-happened", "y", "--what-we-do", "z", "--all",
               "--next-update", "soon")  # fmt: skip
    assert late.exit_code == 2 and "is not a moment" in late.output


def test_rewards_from_the_command_line(workdir: Path) -> None:
    (workdir / "codes.csv").write_text("code,value\nSORRY-1,10%\nSORRY-2,10%\n,\n", encoding="utf-8")
    assert (
        ok(run("rewards", "import", "sorry", "codes.csv")).strip()
        == "sorry: 2 codes added, 0 already there, 0 rows skipped"
    )
    assert "0 codes added, 2 already there" in ok(run("rewards", "import", "sorry", "codes.csv"))
    (workdir / "more.csv").write_text("SORRY-3\nSORRY-3\n", encoding="utf-8")
    assert "1 code added, 0 already there, 1 repeated in the file, 0 rows skipped" in ok(
        run("rewards", "import", "sorry", "more.csv")
    )
    listed = ok(run("rewards", "list"))
    assert "sorry  Apology voucher  given 0, redeemed 0, 3 left" in listed and "welcome" in listed
    assert ok(run("rewards", "given")).strip() == "no rewards given yet"
    unknown = run("rewards", "import", "nope", "codes.csv")
    assert unknown.exit_code == 1 and "no reward pool 'nope'" in unknown.output
    generated = run("rewards", "import", "welcome", "codes.csv")
    assert generated.exit_code == 1 and "template" in generated.output
    assert run("rewards", "import", "sorry", "missing.csv").exit_code == 1
