"""The admin API over real HTTP: the app from build_app under uvicorn, talked to with httpx."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from bot.config import Settings, load_settings
from bot.customers.amounts import LIMITS
from bot.customers.models import Customer
from bot.storage.database import Database
from handlers.server import build_app
from tests.conftest import FixedClock, make_settings
from tests.support.botapi_standin import serve_asgi
from tests.support.upload import post_streaming

KEY = "k3y-For-the-API-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


def api_settings(tmp_path: Path, database_url: str, flows_dir: Path, key: str | None) -> Settings:
    """config.yaml plus ENGAGEBOT_API_KEY in the environment, as an operator sets it."""
    make_settings(tmp_path, database_url, flows_dir)
    env = {"DATABASE_URL": database_url, **({"ENGAGEBOT_API_KEY": key} if key else {})}
    return load_settings(tmp_path / "config.yaml", env=env)


OpenApi = Callable[[str | None], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def open_api(tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock) -> OpenApi:
    """The whole app served on a free local port, with the given API key (or none) configured."""

    @asynccontextmanager
    async def open_(key: str | None) -> AsyncIterator[httpx.AsyncClient]:
        app = build_app(api_settings(tmp_path, database_url, flows_dir, key), clock=clock, background=False)
        async with app.router.lifespan_context(app), serve_asgi(app) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                yield client

    return open_


@pytest.fixture
async def http(open_api: OpenApi) -> AsyncIterator[httpx.AsyncClient]:
    async with open_api(KEY) as client:
        yield client


def purchase(external_id: str = "C-1", amount: float = 49.9, **extra: Any) -> dict[str, Any]:
    return {"event": "purchased", "customer": {"external_id": external_id}, "data": {"amount": amount}, **extra}


# ---- auth -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"X-API-Key": KEY[:-1]},
        {"Authorization": KEY},
        {"Authorization": "Bearer"},
    ],
)
async def test_a_missing_or_wrong_key_is_refused_and_nothing_is_stored(
    http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await http.post("/api/events", json=purchase(), headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization: Bearer <key>" in response.json()["error"]
    assert (await http.get("/api/customers/ext:C-1", headers=AUTH)).status_code == 404


async def test_either_header_carries_the_key(http: httpx.AsyncClient) -> None:
    first = await http.post("/api/events", json=purchase(), headers={"X-API-Key": KEY})
    second = await http.get("/api/customers/ext:C-1", headers={"authorization": f"bearer {KEY}"})
    assert (first.status_code, second.status_code) == (201, 200)


async def test_without_a_configured_key_the_api_is_off_and_says_how_to_turn_it_on(open_api: OpenApi) -> None:
    async with open_api(None) as keyless:
        responses = [
            await keyless.post("/api/events", json=purchase(), headers=AUTH),
            await keyless.get("/api/customers/1"),
            await keyless.delete("/api/customers/1", headers={"X-API-Key": ""}),
        ]
    for response in responses:
        assert response.status_code == 503
        assert "set ENGAGEBOT_API_KEY" in response.json()["error"]


async def test_the_key_never_reaches_the_logs(http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await http.post("/api/events", json=purchase(), headers=AUTH)
    await http.post("/api/events", json=purchase(), headers={"Authorization": f"Bearer {KEY}x"})
    assert caplog.records and not any(KEY in r.getMessage() for r in caplog.records)


# ---- events -----------------------------------------------------------------------------------


async def test_an_event_is_recorded_once_and_its_retry_is_answered_as_a_duplicate(http: httpx.AsyncClient) -> None:
    body = purchase(event_id="order-1001", occurred_at="2026-03-02T08:30:00Z",
                    customer={"external_id": "C-1", "name": "Ana Lima", "email": "ana@example.com"})  # fmt: skip

    first = await http.post("/api/events", json=body, headers=AUTH)
    retry = await http.post("/api/events", json=body, headers=AUTH)

    assert first.status_code == 201
    assert first.json() == {"status": "recorded", "id": 1, "customer_id": 1, "customer_created": True,
                            "flows": "queued"}  # fmt: skip
    assert (retry.status_code, retry.json()) == (200, {"status": "duplicate", "id": 1, "customer_id": 1})
    profile = (await http.get("/api/customers/ext:C-1", headers=AUTH)).json()
    assert (profile["display_name"], profile["email"]) == ("Ana Lima", "ana@example.com")
    assert profile["attributes"] == {
        "lifetime_value": 49.9,
        "orders": 1,
        "last_purchase_at": "2026-03-02T08:30:00+00:00",
    }


async def test_a_batch_of_a_thousand_events_is_one_request(http: httpx.AsyncClient) -> None:
    batch = [purchase(f"C-{i % 250}", 10, event_id=f"e-{i}") for i in range(1000)]

    response = await http.post("/api/events", json=batch, headers=AUTH)

    assert response.status_code == 200, response.text
    assert (response.json()["recorded"], response.json()["duplicates"]) == (1000, 0)
    assert [r["status"] for r in response.json()["results"]] == ["recorded"] * 1000
    customer = (await http.get("/api/customers/ext:C-7", headers=AUTH)).json()
    assert (customer["attributes"]["orders"], customer["attributes"]["lifetime_value"]) == (4, 40)
    again = await http.post("/api/events", json=batch[:3], headers=AUTH)
    assert (again.json()["recorded"], again.json()["duplicates"]) == (0, 3)


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"{not json", 400, "body must be JSON: one event object or a list of events"),
        (b"", 400, "body must be JSON: one event object or a list of events"),
        (b"[" * 100_000, 400, "body must be JSON: one event object or a list of events"),
        (json.dumps({"event": "purchased", "customer": {"external_id": "C-1", "email": "x@"}}).encode(), 422,
         'customer.email: "x@" is not an email address; data.amount: is required for purchased '
         "(the order's value, e.g. 49.90)"),
        (json.dumps([purchase()] * 1001).encode(), 422, "body: has 1001 events; send at most 1000 at a time"),
    ],
)  # fmt: skip
async def test_a_bad_body_says_what_is_wrong_and_stores_nothing(
    http: httpx.AsyncClient, content: bytes, status: int, error: str
) -> None:
    response = await http.post("/api/events", content=content, headers={**AUTH, "Content-Type": "application/json"})

    assert (response.status_code, response.json()["error"]) == (status, error)
    assert (await http.get("/api/customers/ext:C-1", headers=AUTH)).status_code == 404


async def test_field_errors_are_listed_one_by_one(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/events", json=[purchase(), {"event": "x", "customer": {}}], headers=AUTH)

    assert response.status_code == 422
    assert response.json()["fields"] == [
        {"field": "[1].customer.external_id", "message": "is required (the customer's id in your own system)"}
    ]


async def test_an_oversized_body_is_refused_before_it_is_read(http: httpx.AsyncClient) -> None:
    huge = json.dumps(purchase(note="x" * 1_100_000))
    response = await http.post("/api/events", content=huge, headers={**AUTH, "Content-Type": "application/json"})

    assert (response.status_code, response.json()) == (413, {"error": "body too large (over 1048576 bytes)"})

    # No Content-Length: counted while reading, refused at the limit, and the connection closed.
    url = str(http.base_url.join("/api/events"))
    streamed = await asyncio.to_thread(post_streaming, url, total=20_000_000, headers=AUTH)
    assert (streamed.status, streamed.headers["connection"]) == (413, "close")
    assert streamed.sent < 8_000_000


async def test_a_chat_id_that_belongs_to_someone_else_is_a_conflict(http: httpx.AsyncClient) -> None:
    await http.post("/api/events", json=purchase(customer={"external_id": "C-1", "telegram_chat_id": 42}),
                    headers=AUTH)  # fmt: skip
    batch = [purchase("C-3"), purchase(customer={"external_id": "C-2", "telegram_chat_id": 42})]

    response = await http.post("/api/events", json=batch, headers=AUTH)

    assert response.status_code == 409
    assert response.json()["error"] == "[1].customer.telegram_chat_id: 42 already belongs to customer #1"
    assert (await http.get("/api/customers/ext:C-3", headers=AUTH)).status_code == 404  # the batch is all or nothing


# ---- customers --------------------------------------------------------------------------------


async def test_a_customer_is_found_by_id_or_external_id(http: httpx.AsyncClient) -> None:
    await http.post("/api/events", json=purchase("team/C 1", customer={"external_id": "team/C 1",
                    "telegram_chat_id": "1001", "timezone": "Europe/Berlin"}), headers=AUTH)  # fmt: skip

    by_id = await http.get("/api/customers/1", headers=AUTH)
    by_external = await http.get("/api/customers/ext:team%2FC%201", headers=AUTH)

    assert by_id.status_code == by_external.status_code == 200
    assert by_id.json() == by_external.json()
    profile = by_id.json()
    assert (profile["id"], profile["external_id"], profile["timezone"], profile["subscribed"]) == (
        1, "team/C 1", "Europe/Berlin", True,
    )  # fmt: skip
    assert [(i["channel"], i["address"]) for i in profile["identities"]] == [("telegram", "1001")]


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/customers/99", 404), ("/api/customers/ext:nobody", 404), ("/api/customers/Ana", 400),
     ("/api/customers/99999999999999", 404)],
)  # fmt: skip
async def test_an_unknown_or_malformed_reference(http: httpx.AsyncClient, path: str, status: int) -> None:
    for response in (await http.get(path, headers=AUTH), await http.get(f"{path}/export", headers=AUTH),
                     await http.delete(path, headers=AUTH)):  # fmt: skip
        assert response.status_code == status
        assert response.json()["error"]


async def test_an_external_id_ending_in_slash_export_is_that_customer_not_another_ones_export(
    http: httpx.AsyncClient,
) -> None:
    for external_id, chat in (("team", "2001"), ("team/export", "2002")):
        body = purchase(external_id, customer={"external_id": external_id, "telegram_chat_id": chat})
        assert (await http.post("/api/events", json=body, headers=AUTH)).status_code == 201
    profile = (await http.get("/api/customers/ext:team%2Fexport", headers=AUTH)).json()
    assert profile["external_id"] == "team/export" and "messages" not in profile
    exported = (await http.get("/api/customers/ext:team%2Fexport/export", headers=AUTH)).json()
    assert exported["customer"]["external_id"] == "team/export"


async def test_export_then_delete(http: httpx.AsyncClient) -> None:
    await http.post("/api/events", json=purchase(event_id="o-1"), headers=AUTH)
    await http.post("/api/events", json=purchase("C-2"), headers=AUTH)

    exported = await http.get("/api/customers/ext:C-1/export", headers=AUTH)
    assert exported.status_code == 200
    data = exported.json()
    assert data["customer"]["external_id"] == "C-1"
    assert [(e["name"], e["event_id"]) for e in data["customer_events"]] == [("purchased", "o-1")]
    assert [row["kind"] for row in data["outbox"]] == ["event"]

    # DELETE on the export is refused: only the customer's own address erases them.
    refused = await http.delete("/api/customers/ext:C-1/export", headers=AUTH)
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET")
    assert (await http.get("/api/customers/ext:C-1", headers=AUTH)).status_code == 200

    deleted = await http.delete("/api/customers/ext:C-1", headers=AUTH)
    assert deleted.status_code == 200
    assert deleted.json()["deleted"] == 1 and deleted.json()["rows"]["customer_events"] == 1
    assert (await http.get("/api/customers/ext:C-1", headers=AUTH)).status_code == 404
    assert (await http.get("/api/customers/ext:C-2", headers=AUTH)).status_code == 200
    # The event id is free again: a retry after an erasure records the customer anew.
    again = await http.post("/api/events", json=purchase(event_id="o-1"), headers=AUTH)
    assert (again.status_code, again.json()["customer_created"]) == (201, True)


# ---- limits: numbers, text no database stores, event ids ------------------------------------------------------


def raw_purchase(amount: str) -> bytes:
    """A purchase with its amount written into the JSON text as is (literals no encoder writes: NaN, 1e1000000)."""
    return b'{"event": "purchased", "customer": {"external_id": "C-1"}, "data": {"amount": ' + amount.encode() + b"}}"


@pytest.mark.parametrize(
    "amount", ['"1e1000000"', "1e1000000", "9" * 100_000, '"1e400"', "NaN", '"-Infinity"', '"0.00001"', "1e15"],
    ids=lambda amount: amount[:12],
)  # fmt: skip
async def test_an_amount_beyond_the_limits_is_422_at_once_naming_the_field_and_the_limit(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, amount: str
) -> None:
    caplog.set_level(logging.INFO, logger="handlers.api")
    started = time.monotonic()
    response = await http.post("/api/events", content=raw_purchase(amount), headers=AUTH)

    # Refused before any work that grows with the number; 10 s, not 2, so a loaded CI machine does not fail it.
    assert time.monotonic() - started < 10
    assert response.status_code == 422, response.text
    [error] = response.json()["fields"]
    assert error["field"] == "data.amount"
    assert error["message"].endswith("is out of range: " + LIMITS)
    assert [r.getMessage() for r in caplog.records if r.name == "handlers.api"] == ["api: refused (422): data.amount"]
    assert (await http.get("/api/customers/ext:C-1", headers=AUTH)).status_code == 404


async def test_numbers_in_attributes_and_data_must_be_storable(http: httpx.AsyncClient) -> None:
    body = (
        b'{"event": "x", "customer": {"external_id": "C-1", "attributes": {"orders": "1e100000", "lat": 52.5200081}},'
        b' "attributes": {"score": Infinity, "big": 1e15}, "data": {"qty": NaN, "order": 12345678901234567890}}'
    )
    response = await http.post("/api/events", content=body, headers=AUTH)

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["fields"]] == [
        "customer.attributes.orders", "data.qty", "attributes.score", "attributes.big",
    ]  # fmt: skip


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\udfff"], ids=["nul", "high-surrogate", "low-surrogate"])
@pytest.mark.parametrize(
    "field",
    ["customer.external_id", "event_id", "customer.name", "customer.email", "customer.timezone",
     "customer.attributes.note", "data.items[0].sku"],
)  # fmt: skip
async def test_text_no_database_stores_is_422_naming_the_field(http: httpx.AsyncClient, bad: str, field: str) -> None:
    event: dict[str, Any] = {"event": "signed_up", "event_id": "e-1", "customer": {"external_id": "C-1"},
                             "data": {"items": [{"sku": "A"}]}}  # fmt: skip
    value = f"x{bad}@example.com"
    if field == "event_id":
        event["event_id"] = value
    elif field == "customer.attributes.note":
        event["customer"]["attributes"] = {"note": value}
    elif field == "data.items[0].sku":
        event["data"]["items"][0]["sku"] = value
    else:
        event["customer"][field.removeprefix("customer.")] = value

    response = await http.post("/api/events", content=json.dumps(event).encode(), headers=AUTH)

    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["fields"]] == [field]
    assert (await http.get("/api/customers/ext:C-1", headers=AUTH)).status_code == 404


async def test_a_reference_with_text_no_database_stores_is_400(http: httpx.AsyncClient) -> None:
    for path in ("/api/customers/ext:C%001", "/api/customers/ext:C%001/export"):
        response = await http.get(path, headers=AUTH)
        assert response.status_code == 400
        assert "NUL" in response.json()["error"]


async def test_an_event_id_reused_for_another_customer_is_409_and_reported_per_event_in_a_batch(
    http: httpx.AsyncClient,
) -> None:
    assert (await http.post("/api/events", json=purchase("C-1", event_id="o-1"), headers=AUTH)).status_code == 201

    reused = await http.post("/api/events", json=purchase("C-2", event_id="o-1"), headers=AUTH)

    assert reused.status_code == 409
    assert reused.json() == {
        "error": 'event_id: "o-1" is already the id of an event of another customer (external_id "C-1"); send '
        "this event with an id of its own",
        "fields": [{"field": "event_id", "message": '"o-1" is already the id of an event of another customer '
                    '(external_id "C-1"); send this event with an id of its own'}],
    }  # fmt: skip
    batch = [purchase("C-2", event_id="o-2"), purchase("C-2", event_id="o-1"), purchase("C-1", event_id="o-1")]
    answer = (await http.post("/api/events", json=batch, headers=AUTH)).json()
    assert (answer["recorded"], answer["duplicates"], answer["conflicts"]) == (1, 1, 1)
    assert [r["status"] for r in answer["results"]] == ["recorded", "conflict", "duplicate"]
    assert answer["results"][1] == {"status": "conflict", "field": "event_id", "error": reused.json()["error"]}
    assert (await http.get("/api/customers/ext:C-2", headers=AUTH)).json()["attributes"]["orders"] == 1


async def test_a_total_that_would_pass_the_limit_is_422_and_the_batch_is_not_recorded(http: httpx.AsyncClient) -> None:
    batch = [purchase("C-2", 1), purchase("C-1", 999999999999999), purchase("C-1", 1)]

    response = await http.post("/api/events", json=batch, headers=AUTH)

    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "[2].data.amount"
    assert (await http.get("/api/customers/ext:C-2", headers=AUTH)).status_code == 404


async def test_values_stored_before_the_checks_are_shown_and_exported_cleaned(
    http: httpx.AsyncClient, database_url: str
) -> None:
    await http.post("/api/events", json=purchase("C-1"), headers=AUTH)
    db = Database(database_url)
    try:
        async with db.transaction() as session:  # as an older version could leave them
            stored = {"lifetime_value": 10**400, "plan": "pro\x00", "name\ud800": "\udfff"}
            await session.execute(update(Customer).where(Customer.external_id == "C-1").values(attributes=stored))
    finally:
        await db.dispose()

    shown = await http.get("/api/customers/ext:C-1", headers=AUTH)
    exported = await http.get("/api/customers/ext:C-1/export", headers=AUTH)

    assert shown.status_code == exported.status_code == 200
    expected = {"lifetime_value": 10**400, "plan": "pro", "name\ufffd": "\ufffd"}
    assert shown.json()["attributes"] == exported.json()["customer"]["attributes"] == expected
    again = await http.post("/api/events", json=purchase("C-1", 5), headers=AUTH)
    assert again.status_code == 201
    assert (await http.get("/api/customers/ext:C-1", headers=AUTH)).json()["attributes"]["lifetime_value"] == 5
