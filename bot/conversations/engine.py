"""The conversation engine: one inbound message in, replies out, state saved in the same transaction.

`ConversationEngine` only puts the stages together. The path of one inbound message, file by file:

1. receive (receive.py): `clean_inbound` cleans every text the adapter handed over; in one transaction, under a
   lock per chat, `receive` finds the customer by their chat (or redeems a link code, or makes a new customer),
   recognises a duplicate delivery, and stores the message in the transcript (bot/transcript/) before anything
   answers it. A new customer's first message goes through first_contact.py: what it asks for (a complaint, a
   person, stop...) comes first with one sentence of welcome, else the `first_contact` flows (onboarding) start.
2. route (route.py): `Router.route` decides what the message is. A pressed button goes to presses.py (checked
   against the buttons the bot showed this customer); a word that works anywhere (menu, cancel, human, stop) to
   words.py; a command or an intent (intents.py, over the flows in force: registry.py) starts its flow; text
   for the open question is read by answers/ (one module per kind of answer) as its answer; an answer to a
   question the bot gave up on goes to late_answers.py; what a person following the customer's ticket should
   see goes to handoff.py, which also opens a hand-off ticket; anything else gets the menu (speech.py).
3. answer (runs.py): `FlowRuns` starts flows, takes the answer to the open question and lets the flow runner
   (runner.py) run steps until the next question, a wait or the end. Starting a flow over another sets that one
   aside; when the new one ends, interrupted.py picks the latest one set aside up again at its question.
   versions.py finds the exact flow version each run started on. Every reply is added to the turn (turn.py).
4. deliver (deliver.py): the turn's replies go into the transcript and, for a push channel (Telegram), into an
   outbox row leased to the adapter that sends them now; the dispatcher sends them if it cannot.

Messages that arrive together share a transaction (group_commit.py). On PostgreSQL such a batch reads and locks all
its senders and stores their messages in one statement (senders.py), and writes all its replies in one
(reply_batch.py); the turns in between go one after another, as above.

Turns without an inbound message (an event's flows, a resumed `wait`, a check-in reminder or give-up: checkins.py,
a deferred or campaign start) come from the outbox (kinds.py) through proactive.py: stages 3 and 4 only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.conversations.answers import AnswerContext
from bot.conversations.deliver import answer_inbound, release_unsent_reply, settled
from bot.conversations.first_contact import FirstContact
from bot.conversations.group_commit import GroupCommit
from bot.conversations.handoff import Handoff
from bot.conversations.interrupted import InterruptedFlows
from bot.conversations.late_answers import LateAnswers
from bot.conversations.locks import KeyedLocks
from bot.conversations.presses import ButtonPresses
from bot.conversations.proactive import ProactiveTurns
from bot.conversations.receive import clean_inbound, receive
from bot.conversations.registry import FlowRegistry
from bot.conversations.reply_batch import ReplyBatch
from bot.conversations.route import Router
from bot.conversations.runner import FlowRunner
from bot.conversations.runs import FlowRuns
from bot.conversations.senders import KnownSender, read_senders
from bot.conversations.speech import Speech
from bot.conversations.turn import Turn
from bot.conversations.versions import FlowVersions
from bot.conversations.words import GlobalWordActions
from bot.inflight import InFlight
from bot.messages import ChannelRef, Inbound, Reply
from bot.outbox.delivery import Delivery
from bot.ports import Clock, SystemClock
from bot.storage.database import Database

log = logging.getLogger(__name__)

# Messages committed together at most (group_commit.py): enough to share a transaction's cost, few enough that
# the last of them waits for the others' turns only briefly (tens of milliseconds) and the locks are held briefly.
GROUP_COMMIT_MAX = 32


class ConversationEngine:
    def __init__(self, db: Database, registry: FlowRegistry, settings: Settings, clock: Clock | None = None):
        self.db = db
        self.registry = registry
        self.settings = settings
        self.clock = clock or SystemClock()
        self._locks = KeyedLocks()
        self.in_flight = InFlight()  # the messages under way, for the background jobs to wait for (core.py)
        # One batch at a time. SQLite has one writer: a second batch would only wait for it. On PostgreSQL a second
        # lane halved the batches once a batch was two statements (senders.py, reply_batch.py): more transactions,
        # 15-20% more CPU a message, 7-16% fewer messages a second in webhook mode (docs/decisions.md, sixth round).
        self._group: GroupCommit[tuple[Inbound, bool], Delivery] = GroupCommit(
            self._together, self._alone, max_batch=GROUP_COMMIT_MAX, lanes=1, inline=db.is_postgres
        )
        conv, business = settings.conversation, settings.business
        speech = Speech(business.name, settings.texts, registry)
        answer_context = AnswerContext(
            default_region=business.default_region, dayfirst=business.dayfirst,
            choice_threshold=settings.intents.choice_threshold,
        )  # fmt: skip
        runner = self.runner = FlowRunner(settings)
        versions = FlowVersions(registry)
        interrupted = InterruptedFlows(
            versions, runner, speech, resume_within=timedelta(hours=conv.resume_within_hours),
            checkin_settings=settings.outreach.checkins,
        )  # fmt: skip
        self.runs = FlowRuns(settings, registry, runner, versions, interrupted, speech)
        handoff = Handoff(settings, speech)
        words = GlobalWordActions(conv, registry, self.runs, handoff, speech)
        late = LateAnswers(self.runs, answer_context, speech)
        presses = ButtonPresses(registry, self.runs, late, words, speech)
        self.router = Router(
            conv, settings.intents, registry, self.runs, presses=presses, words=words, late=late, handoff=handoff,
            speech=speech, answer_context=answer_context,
        )  # fmt: skip
        self.first_contact = FirstContact(self.router, self.runs, speech)
        self.proactive = ProactiveTurns(db, self.clock, self.runs, speech)

    def warm(self) -> None:
        """Build now what the first messages would build while a customer waits (`engagebot run` calls it before
        serving): the understanding of the flows in force and the English word list, about half a second."""
        self.router.warm()

    # ---- a customer's message -----------------------------------------------------------------

    async def handle(self, inbound: Inbound) -> list[Reply]:
        """Store the message, answer it, save the state; a duplicate delivery returns no replies.

        For channels that read the transcript (web chat, terminal): the replies are returned only.
        """
        return list((await self._handle_inbound(inbound, push=False)).replies)

    async def handle_for_delivery(self, inbound: Inbound) -> Delivery:
        """Like `handle`, for push channels: the replies are also an outbox row, leased to the caller.

        The caller sends them and reports back (`Deliveries.mark_sent` / `failed`); if it dies
        first, the lease runs out and the dispatcher sends them: nothing is lost.
        """
        return await self._handle_inbound(inbound, push=True)

    async def _handle_inbound(self, inbound: Inbound, *, push: bool) -> Delivery:
        inbound = clean_inbound(inbound)
        # One message per chat in flight: a batch never holds two of a chat, and a chat's messages keep their order.
        with self.in_flight.hold():
            async with self._locks.hold(("identity", inbound.channel, inbound.address)):
                return await self._group.submit((inbound, push))

    async def _together(self, batch: list[tuple[Inbound, bool]]) -> list[Delivery]:
        """Messages of different chats through the stages in one transaction (group_commit.py)."""
        async with self.db.transaction() as session:
            if self.db.is_postgres:
                return await self._together_postgres(session, batch)
            # SQLite has one writer (no two transactions lock anything at once) and no round trips to save.
            return [
                await self._through_stages(session, inbound, push=push, check_seen=False) for inbound, push in batch
            ]

    async def _together_postgres(self, session: AsyncSession, batch: list[tuple[Inbound, bool]]) -> list[Delivery]:
        """The batch's senders read and locked and their messages stored in one statement (senders.py), the
        turns one after another, and all their replies written in one statement (reply_batch.py). Every turn of
        the batch has the time it started at, as its message is stored with it."""
        now = self.clock.now()
        senders = await read_senders(session, [inbound for inbound, _ in batch], now)
        replies = ReplyBatch()
        seen: set[int] = set()
        turns: list[tuple[Delivery, bool]] = []  # each delivery, and whether its outbox row is in `replies`
        for inbound, push in batch:
            known = senders.take(session, inbound, seen)
            sends = replies.sends
            delivery = await self._through_stages(
                session, inbound, push=push, check_seen=False, now=now, known=known, batch=replies
            )  # fmt: skip
            turns.append((delivery, replies.sends > sends))
        written = iter(await replies.write(session))
        return [await settled(session, delivery, *next(written)) if taken else delivery for delivery, taken in turns]

    async def _alone(self, message: tuple[Inbound, bool]) -> Delivery:
        inbound, push = message
        for attempt in (1, 2):
            try:
                async with self.db.transaction() as session:
                    # The first try lets the unique message id catch a duplicate when the message is
                    # stored (one query fewer per message); the retry after a clash checks first.
                    return await self._through_stages(session, inbound, push=push, check_seen=attempt == 2)
            except IntegrityError:
                # Another instance created this customer or stored this message first.
                if attempt == 2:
                    log.info("duplicate delivery ignored: %s %s", inbound.channel, inbound.message_id)
        return Delivery((), duplicate=True)

    async def _through_stages(
        self, session: AsyncSession, inbound: Inbound, *, push: bool, check_seen: bool, now: datetime | None = None,
        known: KnownSender | None = None, batch: ReplyBatch | None = None,
    ) -> Delivery:  # fmt: skip
        """One message's turn; `now`, `known` and `batch` for one of a batch on PostgreSQL (_together_postgres)."""
        now = now or self.clock.now()
        received = await receive(
            session, inbound, now, default_tier=self.settings.tiers.default, check_seen=check_seen, known=known
        )  # fmt: skip
        if received is None:
            if push and await release_unsent_reply(session, inbound, now):
                log.info("the reply to %s %s was never sent; sending it now", inbound.channel, inbound.message_id)
            return Delivery((), duplicate=True)
        if batch is not None:
            await batch.write_before(session, received.customer.id)
        turn = Turn(
            session, received.customer, now, inbound.channel, open_runs=received.open_runs,
            first_run_id=received.first_run_id,
        )  # fmt: skip
        if received.is_new:
            await self.first_contact.greet(turn, inbound)
        else:
            await self.router.route(turn, inbound)
        return await answer_inbound(turn, inbound, push=push, batch=batch)

    # ---- turns without a message (from the outbox: kinds.py) ----------------------------------

    async def fire_event(
        self, customer_id: int, event: str, data: dict[str, Any] | None = None, *, interrupt: bool = False
    ) -> list[Reply]:
        """Start the flows an event triggers (e.g. signed_up); see ProactiveTurns.fire_event."""
        return await self.proactive.fire_event(customer_id, event, data, interrupt=interrupt)

    async def resume_run(self, run_id: int) -> bool:
        """Continue a run paused by `wait`. False when it must wait longer (the customer is mid-flow)."""
        return await self.proactive.resume_run(run_id)

    async def remind_run(self, payload: dict[str, Any]) -> bool:
        """An unanswered proactive question: ask it again, or (give-up) go on without its answer."""
        return await self.proactive.remind_run(payload)

    async def start_flow_for(self, customer_id: int, flow_id: str, data: dict[str, Any] | None = None) -> bool:
        """Start a flow proactively (deferred start, campaigns); False when the customer is busy."""
        return await self.proactive.start_flow_for(customer_id, flow_id, data)


__all__ = ["ChannelRef", "ConversationEngine"]
