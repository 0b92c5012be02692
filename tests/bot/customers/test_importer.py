"""Customer CSV import: bad rows named by line, idempotent upserts, consent kept, chat identities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core import Core
from bot.customers.amounts import LIMITS
from bot.customers.importer import ImportFileError, ImportReport, import_csv
from bot.customers.models import ChannelIdentity, Customer
from tests.conftest import Chat

GOOD = """\
external_id,name,email,phone,language,timezone,telegram_chat_id,subscribed,customer_since,lifetime_value,plan,seats,zip
C-1,Ana Lima,ana@example.com,+44 20 7946 0958,pt-BR,Europe/Lisbon,1001,yes,2024-03-01,1234.50,pro,12,01234
C-2,Ben Okafor,ben@example.com,,en,,,no,,,basic,,
"""


def write(tmp_path: Path, text: str, name: str = "customers.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


async def run(core: Core, path: Path, **options: Any) -> ImportReport:
    return await import_csv(core.db, core.settings, path, core.clock.now(), **options)


async def customers(core: Core) -> dict[str, Customer]:
    async with core.db.transaction() as session:
        rows = (await session.execute(select(Customer).where(Customer.external_id.is_not(None)))).scalars()
        return {c.external_id: c for c in rows if c.external_id}


async def identities(core: Core) -> set[tuple[str | None, str, str]]:
    async with core.db.transaction() as session:
        query = select(Customer.external_id, ChannelIdentity.channel, ChannelIdentity.address).join(
            Customer, Customer.id == ChannelIdentity.customer_id
        )
        return {tuple(r) for r in await session.execute(query)}  # type: ignore[misc]


async def test_a_file_becomes_customers_with_typed_attributes_and_a_telegram_identity(
    core: Core, tmp_path: Path
) -> None:
    report = await run(core, write(tmp_path, GOOD))

    assert (report.rows, report.created, report.updated, report.unchanged, report.bad) == (2, 2, 0, 0, [])
    found = await customers(core)
    ana, ben = found["C-1"], found["C-2"]
    assert (ana.display_name, ana.email, ana.phone, ana.language, ana.timezone, ana.subscribed) == (
        "Ana Lima", "ana@example.com", "+442079460958", "pt-BR", "Europe/Lisbon", True,
    )  # fmt: skip
    # Numbers are numbers; a zip code with a leading zero stays as written.
    assert ana.attributes == {"customer_since": "2024-03-01", "lifetime_value": 1234.5, "plan": "pro", "seats": 12,
                              "zip": "01234"}  # fmt: skip
    # Empty cells are not written at all.
    assert (ben.phone, ben.timezone, ben.subscribed, ben.attributes) == (None, None, False, {"plan": "basic"})
    assert await identities(core) == {("C-1", "telegram", "1001")}


async def test_bad_rows_are_reported_by_line_and_field_and_the_good_ones_are_imported(
    core: Core, tmp_path: Path
) -> None:
    text = (
        "external_id,name,email,timezone,subscribed,customer_since,lifetime_value,telegram_chat_id\n"
        "C-1,Ana,ana@example.com,Europe/Lisbon,yes,2024-03-01,10,\n"
        '"C-2","Ben\nwith a line break in his name",x@,,,,,\n'  # a quoted cell over two lines: lines 3-4
        "C-3,Cleo,cleo@example.com,Mars/Olympus,maybe,01/03/2024,12 EUR,abc\n"
        ",No id,,,,,,\n"
        "C-1,Ana again,,,,,,\n"
        "C-6,Too,many,cells,,,,,,\n"
        "C-7,Dee,dee@example.com,,,,,\n"
    )
    report = await run(core, write(tmp_path, text))

    assert list(report.problem_lines()) == [
        f'{tmp_path}/customers.csv:3: email: "x@" is not an email address',
        f'{tmp_path}/customers.csv:5: timezone: "Mars/Olympus" is not a time zone '
        "(use an IANA name like Europe/Berlin)",
        f'{tmp_path}/customers.csv:5: telegram_chat_id: "abc" is not a Telegram chat id (a whole number)',
        f'{tmp_path}/customers.csv:5: subscribed: "maybe" is not yes/no, true/false or 1/0',
        f'{tmp_path}/customers.csv:5: customer_since: "01/03/2024" is not an ISO date like 2024-03-01',
        f'{tmp_path}/customers.csv:5: lifetime_value: "12 EUR" is not a number (write it like 1234.50)',
        f"{tmp_path}/customers.csv:6: external_id: is required (the customer's id in your own system)",
        f'{tmp_path}/customers.csv:7: external_id: "C-1" is also on line 2',
        f"{tmp_path}/customers.csv:8: this row has 10 cells but the header has 8 "
        "(a value with a comma in it needs double quotes)",
    ]
    assert (report.rows, report.created, len(report.bad)) == (7, 2, 5)
    assert sorted(await customers(core)) == ["C-1", "C-7"]
    assert (await customers(core))["C-1"].display_name == "Ana"  # the first of the two C-1 rows


async def test_importing_the_same_file_twice_changes_nothing_the_second_time(core: Core, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    await run(core, path)
    before = {k: (c.display_name, c.email, c.attributes, c.subscribed) for k, c in (await customers(core)).items()}

    again = await run(core, path)

    assert (again.created, again.updated, again.unchanged, again.identities_added) == (0, 0, 2, 0)
    after = {k: (c.display_name, c.email, c.attributes, c.subscribed) for k, c in (await customers(core)).items()}
    assert after == before
    assert await identities(core) == {("C-1", "telegram", "1001")}


async def test_a_changed_file_updates_what_changed_and_keeps_attributes_it_does_not_mention(
    core: Core, tmp_path: Path
) -> None:
    await run(core, write(tmp_path, GOOD))
    changed = "external_id,email,plan,vip\nC-1,ana.lima@example.com,enterprise,true\nC-2,,,\n"

    report = await run(core, write(tmp_path, changed, "changes.csv"))

    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    ana = (await customers(core))["C-1"]
    assert ana.email == "ana.lima@example.com"
    assert ana.display_name == "Ana Lima"  # no name column: kept
    assert ana.attributes == {"customer_since": "2024-03-01", "lifetime_value": 1234.5, "plan": "enterprise",
                              "seats": 12, "zip": "01234", "vip": True}  # fmt: skip


async def test_a_customer_who_opted_out_in_chat_is_not_resubscribed_by_a_file(core: Core, tmp_path: Path) -> None:
    chat = Chat(core, channel="telegram", address="1001", name="Ana")
    await chat.say("/stop")
    assert "Done" in await chat.press("Yes")
    report = await run(core, write(tmp_path, GOOD))

    # The chat customer gets the external id (one customer, not two), and stays unsubscribed.
    assert (report.created, report.updated, report.kept_opted_out) == (1, 1, 1)
    ana = (await customers(core))["C-1"]
    assert (ana.subscribed, ana.display_name, ana.email) == (False, "Ana Lima", "ana@example.com")
    assert ana.opted_out_at is not None
    async with core.db.transaction() as session:
        assert len((await session.execute(select(Customer.id))).all()) == 2

    # Saying "subscribe" in chat is consent again; and a file can always unsubscribe.
    await chat.say("subscribe")
    assert (await customers(core))["C-1"].subscribed is True
    await run(core, write(tmp_path, "external_id,subscribed\nC-1,no\n", "off.csv"))
    assert (await customers(core))["C-1"].subscribed is False


async def test_a_telegram_chat_of_another_customer_is_a_bad_row(core: Core, tmp_path: Path) -> None:
    await run(core, write(tmp_path, GOOD))

    report = await run(core, write(tmp_path, "external_id,telegram_chat_id\nC-2,1001\nC-3,2002\n", "b.csv"))

    assert list(report.problem_lines()) == [
        f'{tmp_path}/b.csv:2: telegram_chat_id: 1001 already belongs to customer #1 (external_id "C-1")'
    ]
    assert (report.created, report.updated) == (1, 0)
    assert await identities(core) == {("C-1", "telegram", "1001"), ("C-3", "telegram", "2002")}


async def test_a_dry_run_reports_the_same_counts_and_saves_nothing(core: Core, tmp_path: Path) -> None:
    report = await run(core, write(tmp_path, GOOD), dry_run=True)

    assert (report.created, report.updated, report.identities_added, report.dry_run) == (2, 0, 1, True)
    assert await customers(core) == {}


async def test_many_rows_go_in_batches(core: Core, tmp_path: Path) -> None:
    lines = ["external_id,email,score"] + [f"K-{i},k{i}@example.com,{i}" for i in range(250)]
    done: list[int] = []

    report = await run(core, write(tmp_path, "\n".join(lines)), batch_rows=100, progress=done.append)

    assert (report.rows, report.created) == (250, 250)
    assert done == [100, 200, 250]
    assert (await customers(core))["K-249"].attributes == {"score": 249}


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        ("\ufeffexternal_id;Name;Plan Name\nC-1;Zoë;pro\n", "utf-8"),  # Excel: BOM and semicolons
        ("External ID\tname\tplan name\r\nC-1\tZoë\tpro\r\n", "utf-8"),  # tabs, CRLF, headers as people write them
    ],
)
async def test_spreadsheet_exports_are_read(core: Core, tmp_path: Path, content: str, encoding: str) -> None:
    report = await run(core, write(tmp_path, content, encoding=encoding))

    assert (report.created, report.bad) == (1, [])
    found = (await customers(core))["C-1"]
    assert (found.display_name, found.attributes) == ("Zoë", {"plan_name": "pro"})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "customers.csv: the file is empty; the first line must be a header with external_id"),
        (b"id,email\n1,a@example.com\n", "customers.csv:1: the header has no external_id column (it has: id, email)"),
        (b"external_id,name\nC-1,Zo\xe9\n", 'customers.csv:2: not UTF-8 text (byte 0xe9); save it as "CSV UTF-8"'),
        (b"external_id,Plan,plan\n", 'customers.csv:1: the column "plan" appears twice in the header'),
    ],
)
async def test_a_file_that_cannot_be_imported_says_why_and_imports_nothing(
    core: Core, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError) as raised:
        await run(core, path)
    assert str(raised.value) == f"{tmp_path}/{message}"
    assert await customers(core) == {}


async def test_a_missing_file_is_an_error(core: Core, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match=r"nope\.csv: cannot read the file: No such file or directory"):
        await run(core, tmp_path / "nope.csv")


async def test_totals_out_of_range_and_text_no_database_stores_are_bad_rows(core: Core, tmp_path: Path) -> None:
    nines = "9" * 100_000
    path = write(tmp_path, "external_id,name,lifetime_value,orders,account,score\n"
                           "C-1,Ana,1e400,,,\n"
                           "C-2,Ben\x00,10,,,\n"
                           "C-3,Cleo,10,many,,\n"
                           "C-4,Dan,12.50,3,1234567890123456789,52.520008\n"
                           "C-5\x00,Eve,,,,\n"
                           f"C-6,Fay,{nines},,,\n")  # fmt: skip

    report = await run(core, path)

    assert list(report.problem_lines()) == [
        f'{path}:2: lifetime_value: "1e400" is out of range: {LIMITS}',
        f"{path}:3: name: contains a NUL character (\\u0000), which cannot be stored",
        f'{path}:4: orders: "many" is not a number (write it like 1234.50)',
        f"{path}:6: external_id: contains a NUL character (\\u0000), which cannot be stored",
        f'{path}:7: lifetime_value: "{nines[:57]}..." is out of range: {LIMITS}',
    ]
    found = await customers(core)
    assert list(found) == ["C-4"]
    # A number no float holds exactly stays text, as written; a coordinate is a number.
    assert found["C-4"].attributes == {"lifetime_value": 12.5, "orders": 3, "account": "1234567890123456789",
                                       "score": 52.520008}  # fmt: skip
