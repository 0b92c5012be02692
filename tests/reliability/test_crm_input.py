"""CRM input against a real `engagebot run` with the API on, on SQLite and PostgreSQL (issue 18: "a CRM amount can
freeze the whole process", and the NUL, lone surrogate and reused event_id findings).

- Amounts beyond the limits (`1e1000000`, a hundred thousand nines, `1e400`, NaN) are refused with 422 naming the
  field and the limit, at once, while `/healthz` keeps answering; nothing is stored.
- Values stored before the limits existed (huge, NaN, garbage, text with NUL or lone surrogates; written here with
  SQL) break nobody: `customers top` and `customers tiers --recompute` rank everyone else correctly, exports answer,
  and purchases of that customer and of others are recorded.
- Text the databases cannot store (NUL, lone surrogates) is 422 naming the field, on both databases.
- An event_id reused for another customer is 409 (and reported per event in a batch), not dropped as a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from bot.storage.database import Database
from tests.handlers.test_cli_tickets import engagebot, ok
from tests.reliability.harness import API_KEY, EngagebotProcess, processes, write_config

# Under these everything answers; the refused inputs took 51 s before the limits.
FAST = 2.0
TIERS = {"default": "standard", "rules": [{"tier": "core", "top_percent": 20},
                                          {"tier": "big", "when": "customer.lifetime_value >= 500"}]}  # fmt: skip


@dataclass
class Bot:
    process: EngagebotProcess
    http: httpx.AsyncClient
    database_url: str
    folder: Path

    async def post(self, body: Any) -> httpx.Response:
        """Posted as written: json.dumps escapes NUL and lone surrogates (\\u0000, \\ud800) and keeps NaN."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await self.http.post("/api/events", content=content, headers={"Content-Type": "application/json"})

    async def customer(self, external_id: str) -> httpx.Response:
        return await self.http.get(f"/api/customers/ext:{external_id}")

    def cli(self, *args: str) -> str:
        return ok(engagebot(self.folder, *args, database_url=self.database_url))


@pytest.fixture
async def bot(tmp_path: Path, database_url: str) -> AsyncIterator[Bot]:
    folder = tmp_path / "bot"
    config = write_config(folder, tiers=TIERS)
    process = EngagebotProcess(config, database_url, tmp_path / "bot.log", {"ENGAGEBOT_API_KEY": API_KEY})
    with processes(process):
        await process.wait_healthy()
        async with httpx.AsyncClient(base_url=process.url, headers={"X-API-Key": API_KEY}, timeout=60) as http:
            yield Bot(process, http, database_url, folder)


def purchase(external_id: str, amount: Any, **extra: Any) -> dict[str, Any]:
    return {"event": "purchased", "customer": {"external_id": external_id}, "data": {"amount": amount}, **extra}


def purchase_raw(amount_json: str) -> bytes:
    """A purchase whose amount is written into the JSON text as is (a number literal no encoder would write)."""
    return (
        '{"event": "purchased", "customer": {"external_id": "C-1"}, "data": {"amount": ' + amount_json + "}}"
    ).encode()


@dataclass
class Pulse:
    """/healthz asked every 50 ms while something else runs: the slowest answer it got."""

    http: httpx.AsyncClient
    slowest: float = 0.0
    answers: int = 0

    async def run(self) -> None:
        while True:
            started = time.monotonic()
            response = await self.http.get("/healthz")
            assert response.status_code == 200, response.text
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.answers += 1
            await asyncio.sleep(0.05)


OUT_OF_RANGE = [
    '"1e1000000"', "1e1000000", '"' + "9" * 100_000 + '"', "9" * 100_000, '"1e400"', "1e400", '"-1e-1000000"',
    '"NaN"', "NaN", "-Infinity", '"1e15"', "1000000000000000", '"0.00001"', '"1234567890.123456"',
]  # fmt: skip


async def test_out_of_range_amounts_are_refused_at_once_while_the_bot_keeps_answering(bot: Bot) -> None:
    pulse = Pulse(bot.http)
    beating = asyncio.create_task(pulse.run())
    try:
        for amount in OUT_OF_RANGE:
            started = time.monotonic()
            response = await bot.post(purchase_raw(amount))
            took = time.monotonic() - started
            assert response.status_code == 422, (amount[:40], response.status_code, response.text[:300])
            [error] = response.json()["fields"]
            assert error["field"] == "data.amount"
            assert "below 10^15" in error["message"] and "at most 4 decimal places" in error["message"], error
            assert took < FAST, (amount[:40], took)
    finally:
        beating.cancel()
    assert pulse.answers > 0 and pulse.slowest < FAST, pulse
    assert (await bot.customer("C-1")).status_code == 404  # nothing stored
    accepted = await bot.post(purchase("C-1", "999999999999.99"))
    assert accepted.status_code == 201, accepted.text
    assert (await bot.customer("C-1")).json()["attributes"]["lifetime_value"] == 999999999999.99


async def test_an_out_of_range_lifetime_value_attribute_is_refused_and_purchases_go_on(bot: Bot) -> None:
    for where in ("attributes", "customer"):
        event = purchase("C-1", 10)
        if where == "attributes":
            event["attributes"] = {"lifetime_value": "1e100000"}
        else:
            event["customer"]["attributes"] = {"lifetime_value": 1e300}
        response = await bot.post(event)
        assert response.status_code == 422, response.text
        field = "attributes.lifetime_value" if where == "attributes" else "customer.attributes.lifetime_value"
        assert [e["field"] for e in response.json()["fields"]] == [field]

    for amount in (10, "5.25"):
        assert (await bot.post(purchase("C-1", amount))).status_code == 201
    assert (await bot.customer("C-1")).json()["attributes"]["lifetime_value"] == 15.25


# ---- values stored before the limits --------------------------------------------------------------------------

# Attribute documents as JSON text, written with SQL as older versions (or a hand edit) could have left them.
STORED_BEFORE = {
    "X-inf": '{"lifetime_value": 1e400}',
    "X-huge": '{"lifetime_value": 1' + "0" * 400 + "}",
    "X-text": '{"lifetime_value": "1e100000", "orders": "9' + "9" * 5000 + '"}',
    "X-garbage": '{"lifetime_value": {"oops": [1, 2]}, "orders": true}',
    "X-nul": '{"lifetime_value": 650, "plan": "pro\\u0000", "note\\u0000": "x"}',
    "X-surrogate": '{"lifetime_value": 850, "name": "\\ud800 lone"}',
}
# PostgreSQL's json type refuses a NaN literal itself; there it is text.
NAN = {"sqlite": {"X-nan": '{"lifetime_value": NaN}'}, "postgresql": {"X-nan": '{"lifetime_value": "NaN"}'}}


async def store_attributes(database_url: str, documents: dict[str, str]) -> None:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            cast = "CAST(:doc AS json)" if db.is_postgres else ":doc"
            for external_id, document in documents.items():
                statement = text(f"UPDATE customers SET attributes = {cast} WHERE external_id = :ext")
                await session.execute(statement, {"doc": document, "ext": external_id})
    finally:
        await db.dispose()


async def test_values_stored_before_the_limits_break_nobody(bot: Bot) -> None:
    dialect = "sqlite" if bot.database_url.startswith("sqlite") else "postgresql"
    documents = {**STORED_BEFORE, **NAN[dialect]}
    good = {f"C-{n}": 100 * n for n in range(1, 10)}  # C-1 100 ... C-9 900
    for external_id, value in good.items():
        assert (await bot.post(purchase(external_id, value))).status_code == 201
    for external_id in documents:
        assert (await bot.post(purchase(external_id, 1))).status_code == 201
    await store_attributes(bot.database_url, documents)

    top = bot.cli("customers", "top", "3").splitlines()
    assert [line.split()[1] for line in top[1:-1]] == ["C-9", "X-surrogate", "C-8"], top
    assert top[-1].startswith("top 3 of the 11 customers with a lifetime value (16 in all)"), top
    assert "recomputed:" in bot.cli("customers", "tiers", "--recompute")

    # 16 customers: the top 20% are the 4 best (900, 850, 800, 700); big is the rest of 500 or more.
    tiers = {ext: (await bot.customer(ext)).json()["tier"] for ext in [*good, *documents]}
    assert {ext for ext, tier in tiers.items() if tier == "core"} == {"C-9", "X-surrogate", "C-8", "C-7"}, tiers
    assert {ext for ext, tier in tiers.items() if tier == "big"} == {"X-nul", "C-6", "C-5"}, tiers
    for external_id in documents:  # readable, and exportable for an access request
        assert (await bot.customer(external_id)).status_code == 200
        exported = await bot.http.get(f"/api/customers/ext:{external_id}/export")
        assert exported.status_code == 200, (external_id, exported.text[:300])

    for external_id in [*documents, "C-1"]:
        assert (await bot.post(purchase(external_id, 50))).status_code == 201, external_id
    after = {ext: (await bot.customer(ext)).json()["attributes"] for ext in [*documents, "C-1"]}
    assert after["C-1"]["lifetime_value"] == 150
    for external_id in ("X-inf", "X-huge", "X-text", "X-garbage", "X-nan"):  # no usable value: counted from 0
        assert after[external_id]["lifetime_value"] == 50, (external_id, after[external_id])
    assert after["X-nul"] == {**after["X-nul"], "lifetime_value": 700, "plan": "pro", "note": "x"}
    assert after["X-surrogate"]["name"] == "\ufffd lone"
    assert "is not a usable number" in bot.process.tail(20_000)
    assert "Traceback" not in bot.process.tail(50_000)


# ---- text the database cannot store -----------------------------------------------------------------------------


def with_text(field: str, value: str) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "signed_up", "event_id": "su-1", "customer": {"external_id": "C-1"},
                             "data": {"items": [{"sku": "A-1"}]}}  # fmt: skip
    if field == "event_id":
        event["event_id"] = value
    elif field.startswith("customer."):
        event["customer"][field.removeprefix("customer.")] = value
    elif field == "attributes.note":
        event["attributes"] = {"note": value}
    elif field == "data.items[0].sku":
        event["data"]["items"][0]["sku"] = value
    return event


TEXT_FIELDS = ["customer.external_id", "event_id", "customer.name", "customer.email", "attributes.note",
               "data.items[0].sku"]  # fmt: skip


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
async def test_text_the_database_cannot_store_is_refused_with_422(bot: Bot, bad: str) -> None:
    for field in TEXT_FIELDS:
        response = await bot.post(with_text(field, f"C{bad}1@example.com"))
        assert response.status_code == 422, (field, response.status_code, response.text[:300])
        assert [e["field"] for e in response.json()["fields"]] == [field]
    key = await bot.post({"event": "signed_up", "customer": {"external_id": "C-1", "attributes": {f"a{bad}": 1}}})
    assert key.status_code == 422, key.text
    assert key.json()["fields"][0]["field"].startswith("customer.attributes")
    by_reference = await bot.http.get("/api/customers/ext:C%001")
    assert by_reference.status_code == 400, by_reference.text

    assert (await bot.customer("C-1")).status_code == 404
    assert (await bot.post(with_text("customer.name", "Ana Lima"))).status_code == 201
    assert "Traceback" not in bot.process.tail(50_000)


# ---- event ids -----------------------------------------------------------------------------------------------------


async def test_an_event_id_reused_for_another_customer_is_a_conflict(bot: Bot) -> None:
    assert (await bot.post(purchase("C-1", 10, event_id="order-1"))).status_code == 201
    retry = await bot.post(purchase("C-1", 10, event_id="order-1"))
    assert (retry.status_code, retry.json()["status"]) == (200, "duplicate")

    reused = await bot.post(purchase("C-2", 10, event_id="order-1"))
    assert reused.status_code == 409, reused.text
    assert reused.json()["fields"][0]["field"] == "event_id"
    assert "another customer" in reused.json()["error"]
    assert (await bot.customer("C-2")).status_code == 404

    batch = await bot.post([purchase("C-3", 10, event_id="order-3"), purchase("C-2", 10, event_id="order-1"),
                            purchase("C-1", 10, event_id="order-1")])  # fmt: skip
    assert batch.status_code == 200, batch.text
    assert [r["status"] for r in batch.json()["results"]] == ["recorded", "conflict", "duplicate"]
    assert batch.json()["results"][1]["field"] == "event_id"
    assert (batch.json()["recorded"], batch.json()["duplicates"], batch.json()["conflicts"]) == (1, 1, 1)
    assert (await bot.customer("C-1")).json()["attributes"]["lifetime_value"] == 10
    assert (await bot.customer("C-3")).status_code == 200
