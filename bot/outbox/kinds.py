"""What outbox rows are for: the kinds, and the table of their handlers that features fill in.

The outbox carries out one kind itself, `send` (replies to one channel address, in the customer's order, at
the shared rate). Every other kind belongs to the feature that defines it, as a `StrEnum` of the strings
stored in `outbox.kind`; the feature's handler is registered when the core is assembled (bot/core.py), so
the outbox never imports a feature.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from bot.outbox.claims import Claimed


class OutboxKind(StrEnum):
    SEND = "send"


# Carries out one claimed row; False when it must wait (customer busy, earlier rows pending).
CarryOut = Callable[[Claimed], Awaitable[bool]]


def _always() -> bool:
    return True


@dataclass(frozen=True)
class Handler:
    carry_out: CarryOut
    # A row of this kind that must wait waits for earlier rows (tried again in a second), not for a busy
    # customer (deferred by `outreach.defer_minutes`, and a delivery decision becomes a deferral).
    waits_for_earlier_rows: bool = False
    # A row of this kind without a customer is not one the handler knows (given up on at once).
    needs_customer: bool = False
    # Attempts before a failing row is given up on, when not `outreach.max_attempts`.
    max_attempts: int | None = None
    # False while this process must leave the kind's rows to another one (it lacks what they need).
    available: Callable[[], bool] = _always


class KindTable:
    """kind -> handler, one handler per kind."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self._handlers or kind == OutboxKind.SEND:
            raise ValueError(f"outbox kind {kind!r} already has a handler")
        self._handlers[kind] = handler

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    def unavailable(self) -> tuple[str, ...]:
        """The kinds this process must not claim now."""
        return tuple(kind for kind, handler in self._handlers.items() if not handler.available())

    def __iter__(self) -> Iterator[tuple[str, Handler]]:
        return iter(self._handlers.items())
