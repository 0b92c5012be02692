"""Customer fields that come from outside (CSV imports, CRM events): reading them, and applying them
without overriding what the customer decided themselves (an opt-out given in chat)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from bot.customers import amounts

EXTERNAL_ID_MAX = 200
# Attributes the bot computes with (a purchase adds to them): numbers within amounts.LIMITS wherever they come from.
TOTALS = ("lifetime_value", "orders")
TELEGRAM = "telegram"  # the channel name of Telegram identities
# Column name -> maximum length, as in the customers table.
TEXT_COLUMNS = {"display_name": 200, "email": 320, "phone": 40, "language": 16, "timezone": 64}
CHAT_ID = re.compile(r"-?[0-9]{1,20}")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
INTEGER = re.compile(r"[+-]?(?:0|[1-9][0-9]*)")
DECIMAL = re.compile(r"[+-]?(?:0|[1-9][0-9]*)\.[0-9]+")
TRUE_WORDS = frozenset({"yes", "true", "1", "y"})
FALSE_WORDS = frozenset({"no", "false", "0", "n"})


class FieldError(ValueError):
    """One bad field: `field` names it the way the sender wrote it (a CSV header, a JSON path)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def quoted(value: Any) -> str:
    """A value as shown in an error: in double quotes, cut short, control characters escaped."""
    text = str(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return '"' + text.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'


def external_id(value: Any, name: str = "external_id") -> str:
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text:
        raise FieldError(name, "is required (the customer's id in your own system)")
    if len(text) > EXTERNAL_ID_MAX:
        raise FieldError(name, f"is longer than {EXTERNAL_ID_MAX} characters")
    return text


def email(text: str) -> str:
    try:
        if len(text) > TEXT_COLUMNS["email"]:
            raise ValueError
        return validate_email(text, check_deliverability=False).normalized
    except (EmailNotValidError, ValueError):
        raise ValueError(f"{quoted(text)} is not an email address") from None


def phone(text: str, region: str) -> str:
    """E.164 (+4420...), read with the business's default region when there is no country code."""
    try:
        number = phonenumbers.parse(text, region.upper() or None)
        if not phonenumbers.is_valid_number(number):
            raise ValueError
    except (phonenumbers.NumberParseException, ValueError):
        raise ValueError(
            f"{quoted(text)} is not a phone number (include the country code, e.g. +44 20 7946 0958)"
        ) from None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def timezone(text: str) -> str:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{quoted(text)} is not a time zone (use an IANA name like Europe/Berlin)") from None
    return text


def language(text: str) -> str:
    if len(text) > TEXT_COLUMNS["language"] or not LANGUAGE.fullmatch(text):
        raise ValueError(f"{quoted(text)} is not a language code (like en, pt-BR)")
    return text.replace("_", "-")


def display_name(text: str) -> str:
    if len(text) > TEXT_COLUMNS["display_name"]:
        raise ValueError(f"is longer than {TEXT_COLUMNS['display_name']} characters")
    return text


def telegram_chat_id(value: Any) -> str:
    """A Telegram chat id (a whole number, negative for groups), as the identity address we store."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not CHAT_ID.fullmatch(text):
        raise ValueError(f"{quoted(value)} is not a Telegram chat id (a whole number)")
    return str(int(text))


def boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{quoted(text)} is not yes/no, true/false or 1/0")


def number(value: Any) -> int | float:
    """An amount or total from outside (a JSON number or numeric text) within amounts.LIMITS, as the JSON number
    stored: whole numbers come back as int. ValueError naming the value and the limit otherwise."""
    try:
        return amounts.to_json(amounts.parse(value))
    except amounts.NotANumber:
        raise ValueError(f"{quoted(value)} is not a number (write it like 1234.50)") from None
    except amounts.OutOfRange as exc:
        raise ValueError(f"{quoted(value)} is out of range: {exc}") from None


def iso_date(text: str) -> str:
    """An ISO date (2024-03-01; a date and time is cut to its date) as YYYY-MM-DD."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        raise ValueError(f"{quoted(text)} is not an ISO date like 2024-03-01") from None


def attribute_value(text: str) -> bool | int | float | str:
    """Light typing of a spreadsheet cell: 42 -> int, 4.5 -> float, true/false/yes/no -> bool, else text.
    Numbers with leading zeros (zip codes) or more than 15 significant digits (long account numbers) stay text,
    so nothing is lost."""
    word = text.lower()
    if word in ("true", "yes"):
        return True
    if word in ("false", "no"):
        return False
    digits = text.lstrip("+-")
    if INTEGER.fullmatch(text) and len(digits) <= amounts.MAX_DIGITS:
        return int(text)
    if DECIMAL.fullmatch(text) and len(digits.replace(".", "").lstrip("0")) <= amounts.MAX_DIGITS:
        return float(text)  # 15 significant digits at most: the float is exactly what the cell says
    return text


@dataclass
class ProfileChange:
    """Fields to set on a customer. Empty means "not given": nothing is ever cleared by an import or event."""

    columns: dict[str, Any] = field(default_factory=dict)  # display_name, email, phone, language, timezone
    subscribed: bool | None = None
    attributes: dict[str, Any] = field(default_factory=dict)  # merged; a None value removes the attribute


def read_profile(
    values: Mapping[str, Any], region: str, names: Mapping[str, str] | None = None
) -> tuple[ProfileChange, list[FieldError]]:
    """Validate profile fields given as text (display_name, email, phone, language, timezone); blank is
    "not given". `names` maps a column to how the sender called it, for the errors."""
    names = names or {}
    readers = {"display_name": display_name, "email": email, "phone": lambda t: phone(t, region),
               "language": language, "timezone": timezone}  # fmt: skip
    change = ProfileChange()
    errors: list[FieldError] = []
    for column, read in readers.items():
        raw = values.get(column)
        if raw is None:
            continue
        if not isinstance(raw, str):
            errors.append(FieldError(names.get(column, column), "must be text"))
            continue
        if raw.strip():
            try:
                change.columns[column] = read(raw.strip())
            except ValueError as exc:
                errors.append(FieldError(names.get(column, column), str(exc)))
    return change, errors


@dataclass
class Applied:
    changed: dict[str, Any]  # column -> new value, only what differs from now
    kept_opted_out: bool  # the sender asked to subscribe someone who opted out in chat: not done


def apply(current: Mapping[str, Any], change: ProfileChange) -> Applied:
    """What `change` does to a customer whose stored values are `current` (columns, subscribed,
    opted_out_at, attributes). An opt-out the customer gave in chat wins over any import or event."""
    changed = {k: v for k, v in change.columns.items() if current.get(k) != v}
    kept = False
    if change.subscribed is not None and change.subscribed != current.get("subscribed"):
        if change.subscribed and current.get("opted_out_at") is not None:
            kept = True
        else:
            changed["subscribed"] = change.subscribed
    if change.attributes:
        old = dict(current.get("attributes") or {})
        new = merge_attributes(old, change.attributes)
        if new != old:
            changed["attributes"] = new
    return Applied(changed, kept)


def merge_attributes(old: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """JSON merge patch, one level: new keys added, given keys replaced, None removes, the rest kept."""
    merged = dict(old)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
