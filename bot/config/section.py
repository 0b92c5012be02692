"""The base of every config section, and the value checks several sections share."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

# A name an admin gives (a staff key, a tier, a campaign, a flow id): lower case, digits, _ and -.
KEY_PATTERN = r"^[a-z][a-z0-9_\-]*$"
# A local time of day, 00:00 to 23:59.
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def check_timezone(value: str) -> str:
    """The value when it is an IANA time zone name; a ValueError saying how to write one otherwise."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from None
    return value
