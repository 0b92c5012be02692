"""Which claimed proactive rows are cleared together: a worker's row and the next ones of its batch.

Each customer's first row in a batch is cleared with the first rows of the customers after it, up to
`size` (outreach.concurrency) rows, in the order workers take them. A row is so judged at most about
`size` rows before its worker reaches it, the same order of delay as a worker judging its own row and then
waiting for its send slot, while one transaction clears `size` rows instead of one. A customer's later rows
in the batch are judged alone at their turn, after the earlier ones were carried out (a started flow or an
earlier message is then seen).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from bot.outbox.claims import Claimed, Outcome

ClearRows = Callable[[list[Claimed]], Awaitable[dict[int, Outcome]]]


class ClearingGroups:
    def __init__(self, firsts: Sequence[Claimed], size: int, clear: ClearRows):
        """`firsts`: the proactive rows that are their customer's first in the batch, in the order workers
        take them; `clear`: clears a list of rows of different customers in one transaction."""
        self._firsts = list(firsts)
        self._position = {item.id: n for n, item in enumerate(self._firsts)}
        self._size = max(1, size)
        self._clear = clear
        self._groups: dict[int, asyncio.Task[dict[int, Outcome]]] = {}

    async def outcome(self, item: Claimed) -> Outcome:
        """The policy's outcome for `item`, clearing its group now unless an earlier worker already did."""
        group = self._groups.get(item.id)
        if group is None:
            position = self._position.get(item.id)
            rows = [item] if position is None else self._next_group(position)
            group = asyncio.ensure_future(self._clear(rows))
            self._groups.update((row.id, group) for row in rows)
        # Shielded: a worker cancelled while it waits must not cancel the clearing the others wait for too.
        return (await asyncio.shield(group)).get(item.id)

    def _next_group(self, position: int) -> list[Claimed]:
        rows: list[Claimed] = []
        for row in self._firsts[position:]:
            if row.id not in self._groups:
                rows.append(row)
                if len(rows) == self._size:
                    break
        return rows
