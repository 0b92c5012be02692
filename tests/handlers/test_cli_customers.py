"""`engagebot customers import|show|export|delete`, run as a shell runs them (tests/support/cli.py)."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import update

from bot.customers.amounts import LIMITS
from bot.customers.models import Customer
from tests.handlers.test_cli_tickets import engagebot, query

CSV = """\
external_id,name,email,timezone,telegram_chat_id,subscribed,plan
C-1,Ana Lima,ana@example.com,Europe/Lisbon,1001,yes,pro
C-2,Ben,x@,,,,basic
C-3,Cleo,cleo@example.com,,,no,
"""


def csv_file(tmp_path: Path, text: str = CSV) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_import_reports_bad_rows_imports_the_rest_and_recomputes_tiers(tmp_path: Path, database_url: str) -> None:
    path = csv_file(tmp_path)

    first = engagebot(tmp_path, "customers", "import", str(path), database_url=database_url)

    assert first.returncode == 0, first.stdout + first.stderr
    lines = first.stdout.splitlines()
    assert lines[0] == f'{path}:3: email: "x@" is not an email address'
    assert lines[1] == f"{path}: 3 rows: 2 created, 0 updated, 0 unchanged, 1 bad row skipped"
    assert "1 Telegram chat linked" in lines
    assert any(line.startswith("tiers: ") for line in lines)  # tiers.recompute ran after the import

    again = engagebot(tmp_path, "customers", "import", str(path), database_url=database_url)
    assert again.returncode == 0, again.stderr
    assert f"{path}: 3 rows: 0 created, 0 updated, 2 unchanged, 1 bad row skipped" in again.stdout
    assert "tiers:" not in again.stdout  # nothing changed, nothing to recompute

    shown = engagebot(tmp_path, "customers", "show", "ext:C-1", database_url=database_url)
    assert shown.returncode == 0, shown.stderr
    for line in ("external id: C-1", "name: Ana Lima", "timezone: Europe/Lisbon", "subscribed: yes",
                 "channels: telegram:1001", '  plan: "pro"'):  # fmt: skip
        assert line in shown.stdout.splitlines(), shown.stdout


def test_a_dry_run_saves_nothing(tmp_path: Path, database_url: str) -> None:
    dry = engagebot(tmp_path, "customers", "import", "--dry-run", str(csv_file(tmp_path)), database_url=database_url)

    assert dry.returncode == 0, dry.stderr
    assert "2 would be created" in dry.stdout and dry.stdout.rstrip().endswith("dry run: nothing was saved")
    missing = engagebot(tmp_path, "customers", "show", "ext:C-1", database_url=database_url)
    assert (missing.returncode, missing.stderr.strip()) == (1, "engagebot: no customer ext:C-1")


def test_a_file_that_cannot_be_imported_exits_1_with_the_reason(tmp_path: Path, database_url: str) -> None:
    no_id = csv_file(tmp_path, "id,email\n1,a@example.com\n")
    for args, message in (
        ([str(tmp_path / "nope.csv")], "nope.csv: cannot read the file: No such file or directory"),
        ([str(no_id)], "customers.csv:1: the header has no external_id column (it has: id, email)"),
    ):
        result = engagebot(tmp_path, "customers", "import", *args, database_url=database_url)
        assert result.returncode == 1
        assert result.stderr.startswith("engagebot: ") and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_export_and_delete(tmp_path: Path, database_url: str) -> None:
    engagebot(tmp_path, "customers", "import", str(csv_file(tmp_path)), database_url=database_url)
    out = tmp_path / "ana.json"

    exported = engagebot(tmp_path, "customers", "export", "ext:C-1", "-o", str(out), database_url=database_url)
    assert exported.returncode == 0, exported.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert (data["customer"]["email"], data["channel_identities"][0]["address"]) == ("ana@example.com", "1001")
    assert out.stat().st_mode & 0o077 == 0  # personal data: the owner's only
    to_stdout = engagebot(tmp_path, "customers", "export", str(data["customer"]["id"]), database_url=database_url)
    assert json.loads(to_stdout.stdout) == data

    refused = engagebot(tmp_path, "customers", "delete", "ext:C-1", database_url=database_url)
    assert refused.returncode == 1
    assert "without --yes" in refused.stderr

    deleted = engagebot(tmp_path, "customers", "delete", "ext:C-1", "--yes", database_url=database_url)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.startswith(f"deleted customer #{data['customer']['id']} and their rows: channel_identities 1")
    gone = engagebot(tmp_path, "customers", "show", "ext:C-1", database_url=database_url)
    assert gone.returncode == 1
    bad_ref = engagebot(tmp_path, "customers", "show", "Ana", database_url=database_url)
    assert (bad_ref.returncode, "use a customer id (42) or ext:<external_id>" in bad_ref.stderr) == (1, True)


def test_import_skips_rows_with_totals_out_of_range_or_text_no_database_stores(
    tmp_path: Path, database_url: str
) -> None:
    path = csv_file(tmp_path, "external_id,name,lifetime_value\nC-1,Ana,1e400\nC-2,Ben\x00,10\nC-3,Cleo,12.5\n")

    result = engagebot(tmp_path, "customers", "import", str(path), database_url=database_url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[:3] == [
        f'{path}:2: lifetime_value: "1e400" is out of range: {LIMITS}',
        f"{path}:3: name: contains a NUL character (\\u0000), which cannot be stored",
        f"{path}: 3 rows: 1 created, 0 updated, 0 unchanged, 2 bad rows skipped",
    ]


async def test_show_and_export_a_customer_whose_stored_values_predate_the_checks(
    tmp_path: Path, database_url: str
) -> None:
    engagebot(tmp_path, "customers", "import", str(csv_file(tmp_path)), database_url=database_url)
    await query(database_url, update(Customer).where(Customer.external_id == "C-1").values(
        attributes={"plan": "pro\x00", "name\ud800": "\udfff", "lifetime_value": 10**400}))  # fmt: skip

    shown = engagebot(tmp_path, "customers", "show", "ext:C-1", database_url=database_url)
    exported = engagebot(tmp_path, "customers", "export", "ext:C-1", database_url=database_url)

    assert shown.returncode == exported.returncode == 0, shown.stderr + exported.stderr
    assert '  plan: "pro"' in shown.stdout.splitlines() and '  name\ufffd: "\ufffd"' in shown.stdout.splitlines()
    assert json.loads(exported.stdout)["customer"]["attributes"]["plan"] == "pro"


def test_a_reference_no_database_stores_exits_1_with_the_reason(tmp_path: Path, database_url: str) -> None:
    # A command line cannot hold a NUL; bytes that are not UTF-8 reach Python as lone surrogates.
    result = engagebot(tmp_path, "customers", "show", "ext:C-\udcff", database_url=database_url)

    assert result.returncode == 1
    assert "engagebot: the customer reference contains a lone surrogate (\\udcff)" in result.stderr
    assert "Traceback" not in result.stderr
