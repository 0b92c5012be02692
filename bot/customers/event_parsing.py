"""Reading CRM events from a JSON body: one event or a list, every bad field named ("[3].customer.email")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.customers import amounts, profile, storable
from bot.customers.profile import FieldError, ProfileChange
from bot.yamlsource import did_you_mean

NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
CURRENCY = re.compile(r"[A-Za-z]{3}")
KNOWN = ("signed_up", "purchased", "activated", "cancelled")
# The bot's own events: a sender must not fake them (ticket_resolved without a ticket breaks its flow).
RESERVED = frozenset({"first_contact", "ticket_resolved"})
MAX_BATCH = 1000
ATTRIBUTE_NUMBERS = f"is out of range: numbers in attributes must be finite and below 10^{amounts.SIZE_DIGITS} in size"
DATA_NUMBERS = f"cannot be stored: numbers must be finite, and integers at most {amounts.MAX_JSON_INT} digits long"
EVENT_KEYS = ("event", "customer", "data", "attributes", "event_id", "occurred_at")
CUSTOMER_KEYS = ("external_id", "name", "display_name", "email", "phone", "language", "timezone", "subscribed",
                 "attributes", "telegram_chat_id")  # fmt: skip


@dataclass(frozen=True)
class CrmEvent:
    name: str
    external_id: str
    profile: ProfileChange
    data: dict[str, Any] = field(default_factory=dict)
    event_id: str | None = None
    occurred_at: datetime | None = None
    telegram_chat_id: str | None = None


class EventErrors(ValueError):
    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def parse_body(body: Any, region: str) -> list[CrmEvent]:
    """One event object, or a list of up to MAX_BATCH. Raises EventErrors naming every bad field
    (as "customer.email", or "[3].customer.email" in a list); then nothing is recorded."""
    if isinstance(body, list):
        if not body:
            raise EventErrors([FieldError("body", "is an empty list; send one event or a list of events")])
        if len(body) > MAX_BATCH:
            raise EventErrors([FieldError("body", f"has {len(body)} events; send at most {MAX_BATCH} at a time")])
        items = [(f"[{i}].", item) for i, item in enumerate(body)]
    else:
        items = [("", body)]
    events: list[CrmEvent] = []
    errors: list[FieldError] = []
    for prefix, item in items:
        try:
            events.append(parse_event(item, region, prefix))
        except EventErrors as exc:
            errors += exc.errors
    if errors:
        raise EventErrors(errors)
    return events


def parse_event(raw: Any, region: str, prefix: str = "") -> CrmEvent:
    if not isinstance(raw, dict):
        raise EventErrors([FieldError(prefix.rstrip(".") or "body", "must be a JSON object (an event)")])
    # First, and alone: every other check would quote the same text back, and no database can store it.
    if unstorable := storable.text_problems(raw, prefix.rstrip(".")):
        raise EventErrors(unstorable)
    errors: list[FieldError] = []

    def bad(name: str, message: str) -> None:
        errors.append(FieldError(prefix + name, message))

    _unknown_keys(raw, EVENT_KEYS, "", bad)
    name = raw.get("event")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        bad("event", f"must be a name like {', '.join(KNOWN)} (a-z, 0-9, _; up to 64 characters, "
                     "starting with a letter)")  # fmt: skip
    elif name in RESERVED:
        bad("event", f'"{name}" is one of the bot\'s own events and cannot be sent')
    customer = raw.get("customer")
    ext, change, chat = "", ProfileChange(), None
    if not isinstance(customer, dict):
        bad("customer", 'must be an object with at least "external_id"')
    else:
        ext, change = _read_customer(customer, region, bad)
        if customer.get("telegram_chat_id") is not None:
            try:
                chat = profile.telegram_chat_id(customer["telegram_chat_id"])
            except ValueError as exc:
                bad("customer.telegram_chat_id", str(exc))
    data = raw.get("data", {})
    if not isinstance(data, dict):
        bad("data", "must be an object")
        data = {}
    else:
        if name == "purchased":
            _check_purchase(data, bad)
        details = {k: v for k, v in data.items() if not (name == "purchased" and k == "amount")}
        errors += storable.number_problems(details, prefix + "data", DATA_NUMBERS)
    change.attributes.update(_read_attributes(raw.get("attributes"), "attributes", bad))
    event_id = raw.get("event_id")
    if event_id is not None and (not isinstance(event_id, str | int) or isinstance(event_id, bool)
                                 or not 0 < len(str(event_id)) <= 200):  # fmt: skip
        bad("event_id", "must be a string of 1-200 characters (your id for this event, to make retries safe)")
    occurred = _read_moment(raw.get("occurred_at"), bad)
    if errors:
        raise EventErrors(errors)
    event_key = None if event_id is None else str(event_id)
    return CrmEvent(str(name), ext, change, dict(data), event_key, occurred, chat)


def _unknown_keys(raw: Mapping[str, Any], known: tuple[str, ...], where: str, bad: Any) -> None:
    for key in raw:
        if key not in known:
            bad(where + str(key), f"is not a field we know{did_you_mean(key, known)}; known: {', '.join(known)}")


def _read_customer(customer: dict[str, Any], region: str, bad: Any) -> tuple[str, ProfileChange]:
    _unknown_keys(customer, CUSTOMER_KEYS, "customer.", bad)
    ext = ""
    try:
        ext = profile.external_id(customer.get("external_id"), "customer.external_id")
    except FieldError as exc:
        bad(exc.field, exc.message)
    values = dict(customer)
    if "name" in values and "display_name" not in values:
        values["display_name"] = values["name"]
    names = {c: f"customer.{'name' if c == 'display_name' and 'name' in customer else c}"
             for c in profile.TEXT_COLUMNS}  # fmt: skip
    change, errors = profile.read_profile(values, region, names)
    for e in errors:
        bad(e.field, e.message)
    subscribed = customer.get("subscribed")
    if subscribed is not None and not isinstance(subscribed, bool):
        bad("customer.subscribed", "must be true or false")
    change.subscribed = subscribed if isinstance(subscribed, bool) else None
    change.attributes.update(_read_attributes(customer.get("attributes"), "customer.attributes", bad))
    return ext, change


def _read_attributes(raw: Any, where: str, bad: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        bad(where, "must be an object of attribute names and values (null removes one)")
        return {}
    values = dict(raw)
    for key, value in raw.items():
        if not ATTRIBUTE.fullmatch(key):
            bad(
                f"{where}.{key}",
                "is not an attribute name (letters, digits and _, up to 64, not starting with a digit)",
            )
        elif key in profile.TOTALS and value is not None:
            try:  # a purchase adds to these: numbers within the limits, numeric text read as the number
                values[key] = profile.number(value)
            except ValueError as exc:
                bad(f"{where}.{key}", str(exc))
        else:  # tier rules rank by attributes: numbers that a float holds
            for e in storable.number_problems(value, f"{where}.{key}", ATTRIBUTE_NUMBERS, below=amounts.MAX_SIZE):
                bad(e.field, e.message)
    return values


def _check_purchase(data: dict[str, Any], bad: Any) -> None:
    if "amount" not in data:
        bad("data.amount", "is required for purchased (the order's value, e.g. 49.90)")
    else:
        try:
            if profile.number(data["amount"]) < 0:
                bad("data.amount", "must not be negative (send a refund as its own event)")
        except ValueError as exc:
            bad("data.amount", str(exc))
    currency = data.get("currency")
    if currency is not None and not (isinstance(currency, str) and CURRENCY.fullmatch(currency)):
        bad("data.currency", "must be a three-letter currency code like EUR")


def _read_moment(raw: Any, bad: Any) -> datetime | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, str):
            raise ValueError
        moment = datetime.fromisoformat(raw)
    except ValueError:
        bad("occurred_at", "must be an ISO-8601 date and time like 2026-03-02T09:30:00Z")
        return None
    if moment.tzinfo is None:
        bad("occurred_at", "needs a UTC offset (Z or +01:00): without one the moment is ambiguous")
        return None
    return moment.astimezone(UTC)
