"""What a known CRM event does to a customer's attributes: a purchase adds to the totals, signed_up and the
others stamp their moment (an old event arriving late moves no date back)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.customers import amounts, profile

log = logging.getLogger(__name__)


def effects(name: str, data: Mapping[str, Any], attributes: Mapping[str, Any], when: datetime) -> dict[str, Any]:
    """The attributes a known event changes (custom events change none by themselves). A stored total that is not
    a usable number (amounts.usable) counts as 0; amounts.OutOfRange when a total would pass the limit."""
    stamp = when.isoformat()
    if name == "purchased":
        return {
            "lifetime_value": _add(attributes.get("lifetime_value"), amounts.parse(data["amount"])),
            "orders": _add(attributes.get("orders"), Decimal(1)),
            "last_purchase_at": _latest(attributes.get("last_purchase_at"), stamp),
        }
    if name == "signed_up":
        since = {} if attributes.get("customer_since") else {"customer_since": when.date().isoformat()}
        return {"signed_up_at": _latest(attributes.get("signed_up_at"), stamp), **since}
    if name in ("activated", "cancelled"):
        key = f"{name}_at"
        return {key: _latest(attributes.get(key), stamp)}
    return {}


def _add(total: Any, amount: Decimal) -> int | float:
    """A stored total plus an amount, in decimal arithmetic (19.99 + 5.01 is 25, not 25.000000000000004)."""
    return amounts.to_json(amounts.add(amounts.usable(total) or Decimal(0), amount))


def warn_unusable(customer_id: int, attributes: Mapping[str, Any]) -> None:
    """One line for the totals a purchase cannot add to (stored before the limits: huge, NaN, a word)."""
    unusable = [f"{key} {profile.quoted(attributes[key])}" for key in profile.TOTALS
                if attributes.get(key) is not None and amounts.usable(attributes[key]) is None]  # fmt: skip
    if unusable:
        log.warning("customer #%d: the stored %s %s; this purchase counts from 0", customer_id, " and ".join(unusable),
                    "is not a usable number" if len(unusable) == 1 else "are not usable numbers")  # fmt: skip


def _latest(old: Any, new: str) -> str:
    """The later of two ISO moments: an old event arriving late does not move a date back."""
    try:
        return max(datetime.fromisoformat(old), datetime.fromisoformat(new)).isoformat()
    except (TypeError, ValueError):
        return new
