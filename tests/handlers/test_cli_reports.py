"""`engagebot reports NAME`, run as a shell runs it (tests/support/cli.py) against a database seeded as the product
stores answers, on SQLite and PostgreSQL: the JSON contract, CSV, the table, and clear errors for bad options."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from bot.core import Core
from bot.surveys.models import SurveyResponse
from tests.bot.reports.seed import ZONE, at, customers
from tests.conftest import make_settings
from tests.support.cli import Completed
from tests.support.cli import engagebot as run_engagebot


def engagebot(cwd: Path, database_url: str, *args: str) -> Completed:
    return run_engagebot(cwd, *args, database_url=database_url)


@pytest.fixture
async def workdir(tmp_path: Path, database_url: str, flows_dir: Path) -> Path:
    """A config.yaml in New York time and a database with NPS answers: in the week of 2 March a promoter (10), a
    passive (8) and a detractor (5); in the week of 9 March two promoters; a gold customer's 10 among them."""
    settings = make_settings(tmp_path, database_url, flows_dir, business={"timezone": ZONE})
    core = Core(settings)
    await core.prepare_storage()
    async with core.db.transaction() as s:
        gold, *others = await customers(s, ("2026-01-01 00:00", "gold"), *[("2026-01-01 00:00", "standard")] * 4)
        answers = [(gold, 10, "2026-03-03 12:00", "Quick and kind"), (others[0], 8, "2026-03-04 12:00", None),
                   (others[1], 5, "2026-03-05 12:00", "Too slow, twice"), (others[2], 9, "2026-03-10 12:00", None),
                   (others[3], 10, "2026-03-11 12:00", None)]  # fmt: skip
        s.add_all(SurveyResponse(customer_id=c.id, survey="nps", kind="nps", score=score, comment=comment,
                                 created_at=at(when)) for c, score, when, comment in answers)  # fmt: skip
    await core.close()
    return tmp_path


RANGE = ("--since", "2026-03-01", "--until", "2026-03-15")


async def test_nps_json_has_the_whole_range_at_the_top_and_the_periods(workdir: Path, database_url: str) -> None:
    done = engagebot(workdir, database_url, "reports", "nps", *RANGE, "--format", "json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # 3 promoters, 1 passive, 1 detractor of 5: 60 - 20 = 40.
    assert {k: report[k] for k in ("nps", "responses", "promoters", "passives", "detractors")} == {
        "nps": 40.0, "responses": 5, "promoters": 3, "passives": 1, "detractors": 1}  # fmt: skip
    assert [(p["period"], p["nps"], p["responses"]) for p in report["periods"]] == [
        ("2026-03-02", 0.0, 3), ("2026-03-09", 100.0, 2)]  # fmt: skip
    assert {(c["score"], c["comment"]) for c in report["comments"]} == {(10, "Quick and kind"), (5, "Too slow, twice")}

    gold = json.loads(engagebot(workdir, database_url, "reports", "nps", *RANGE, "--tier", "gold",
                                "--format", "json").stdout)  # fmt: skip
    assert (gold["nps"], gold["responses"], gold["tier"]) == (100.0, 1, "gold")


async def test_nps_csv_and_table(workdir: Path, database_url: str) -> None:
    done = engagebot(workdir, database_url, "reports", "nps", *RANGE, "--by", "month", "--format", "csv")
    assert done.returncode == 0, done.stderr
    (row,) = list(csv.DictReader(io.StringIO(done.stdout)))
    assert (row["period"], row["nps"], row["responses"], row["detractors"]) == ("2026-03-01", "40.0", "5", "1")
    comments = engagebot(workdir, database_url, "reports", "nps", *RANGE, "--format", "csv", "--list", "comments")
    assert {r["comment"] for r in csv.DictReader(io.StringIO(comments.stdout))} == {"Quick and kind", "Too slow, twice"}
    table = engagebot(workdir, database_url, "reports", "nps", *RANGE)
    assert table.returncode == 0, table.stderr
    assert "  nps: 40.0" in table.stdout and "Too slow, twice" in table.stdout
    alias = engagebot(workdir, database_url, "surveys", "report", *RANGE)
    assert "  nps: 40.0" in alias.stdout and alias.stdout.count("responses: ") == 2  # nps, then csat


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reports", "nps", "--since", "2026-13-01"), "'2026-13-01' does not match the format"),
        (("reports", "nps", "--since", "2026-03-10", "--until", "2026-03-01"), "--since 2026-03-10 is after"),
        (("reports", "nps", "--by", "year"), "'year' is not one of 'day', 'week', 'month'"),
        (("reports", "revenue"), "'revenue' is not one of"),
        (("reports", "nps", "--list", "nope"), "nps has no list 'nope'; it has: periods, comments"),
    ],
)
async def test_bad_options_get_a_clear_error(workdir: Path, database_url: str, args: tuple[str, ...],
                                             message: str) -> None:  # fmt: skip
    done = engagebot(workdir, database_url, *args)
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.parametrize(
    "name", ["nps", "csat", "sla", "complaints", "churn", "campaigns", "flows", "retention", "crosssell"]
)
async def test_every_report_answers_in_every_format(workdir: Path, database_url: str, name: str) -> None:
    table = engagebot(workdir, database_url, "reports", name, *RANGE, "--by", "day")
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith(f"{name} (2026-03-01 to 2026-03-15, by day, {ZONE})")
    done = engagebot(workdir, database_url, "reports", name, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["report"] == name
