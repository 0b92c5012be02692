"""The conversation engine: one inbound message in, replies out, state saved in the same transaction."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from bot import outbox, templating, transcript
from bot.config import Settings
from bot.conversations import activity, buttons, checkins, offers
from bot.conversations import answers as ans
from bot.conversations import schema as s
from bot.conversations.intents import GlobalWords
from bot.conversations.kinds import ConversationKind
from bot.conversations.loader import LoadedFlow
from bot.conversations.locks import KeyedLocks
from bot.conversations.models import (
    ACTIVE,
    CANCELLED,
    SUSPENDED,
    WAITING,
    ConversationRun,
    FlowVersion,
)
from bot.conversations.registry import FlowRegistry
from bot.conversations.runner import FlowHandOff, FlowRunner, subscribe, unsubscribe
from bot.conversations.turn import Turn
from bot.customers import links
from bot.customers import records as customers
from bot.messages import Button, ChannelRef, Inbound, Media, Reply
from bot.outbox.delivery import INLINE_LEASE, Delivery, insert_send
from bot.outbox.models import LEASED, PENDING, OutboxItem
from bot.ports import Clock, SystemClock
from bot.storage.database import Database
from bot.tickets import lifecycle
from bot.tickets import records as tickets

log = logging.getLogger(__name__)

# C0 control characters (bar tab, newline, carriage return) and DEL are dropped from what customers send.
_CONTROL_CHARS = dict.fromkeys([*(c for c in range(32) if chr(c) not in "\t\n\r"), 0x7F])
# Built once, as it runs for every message: building a statement costs more Python than SQLite takes to run it.
_ACTIVE_RUNS = (
    select(ConversationRun)
    .where(ConversationRun.customer_id == bindparam("customer_id"), ConversationRun.status == ACTIVE)
    .order_by(ConversationRun.id.desc())
)
# The reply's outbox row is written as a plain row, not through the ORM's unit of work,
# which cost more than a millisecond of Python per message (bench/bench_inbound.py --profile).
_QUEUE_OUTBOX = (
    update(OutboxItem.__table__)
    .where(OutboxItem.__table__.c.id == bindparam("item_id"))
    .values(status=PENDING, lease_until=None)
)


@dataclass
class Running:
    run: ConversationRun
    lf: LoadedFlow

    @property
    def step(self) -> s.AnyStep:
        return self.lf.flow.steps[self.run.step_index]


class ConversationEngine:
    def __init__(self, db: Database, registry: FlowRegistry, settings: Settings, clock: Clock | None = None):
        self.db = db
        self.registry = registry
        self.settings = settings
        self.clock = clock or SystemClock()
        self.runner = FlowRunner(settings)
        self.global_words = GlobalWords(settings.conversation.global_words.model_dump())
        self.answer_context = ans.AnswerContext(
            default_region=settings.business.default_region,
            dayfirst=settings.business.dayfirst,
            choice_threshold=settings.intents.choice_threshold,
        )
        self._locks = KeyedLocks()
        self._persisted_versions: set[tuple[str, str]] = set()

    # ---- public API -------------------------------------------------------------------------

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
        inbound = _sanitize_inbound(inbound)
        async with self._locks.hold(("identity", inbound.channel, inbound.address)):
            for attempt in (1, 2):
                try:
                    async with self.db.transaction() as session:
                        # The first try lets the unique message id catch a duplicate when the message is
                        # stored (one query fewer per message); the retry after a clash checks first.
                        return await self._handle(session, inbound, push, check_seen=attempt == 2)
                except IntegrityError:
                    # Another instance created this customer or stored this message first.
                    if attempt == 2:
                        log.info("duplicate delivery ignored: %s %s", inbound.channel, inbound.message_id)
        return Delivery((), duplicate=True)

    async def fire_event(
        self, customer_id: int, event: str, data: dict[str, Any] | None = None, *, interrupt: bool = False
    ) -> list[Reply]:
        """Start the flows an event triggers (e.g. signed_up). Replies go out through the outbox.

        A customer in the middle of a flow is not interrupted (the start is deferred), unless the
        event is about something they are waiting for (`interrupt`, e.g. their ticket was resolved).
        """
        async with self.db.transaction() as session:
            customer = await customers.lock(session, customer_id)
            turn = Turn(session, customer, self.clock.now(), channel="", proactive=True)
            if not interrupt and not customer.subscribed:
                return []  # opted out after the dispatcher cleared it
            if not interrupt and await activity.mid_conversation(session, customer_id, turn.now):
                for flow_id in self.registry.indexes.events.get(event, []):
                    await self._defer_start(turn, flow_id, data)
                return []
            await self._start_event_flows(turn, event, data)
            await self._deliver_proactively(turn, f"event:{event}:{customer_id}:{turn.now.timestamp()}")
            return turn.replies

    async def resume_run(self, run_id: int) -> bool:
        """Continue a run paused by `wait`. False when it must wait longer (the customer is mid-flow)."""
        async with self.db.transaction() as session:
            run = await session.get(ConversationRun, run_id)
            if run is None or run.status != WAITING:
                return True
            customer = await customers.lock(session, run.customer_id)
            turn = Turn(session, customer, self.clock.now(), channel="", proactive=True)
            if customer.unreachable or not customer.subscribed:
                self.runner.finish(turn, run, CANCELLED)  # blocked us or opted out: no more check-ins
                return True
            active = await self._active(turn)
            if active is not None:
                if await activity.mid_conversation(session, customer.id, turn.now):
                    return False
                # A question left unanswered for a while: set it aside; it is picked up again afterwards.
                active.run.status = SUSPENDED
                active.run.updated_at = turn.now
            lf = await self._flow_of(turn, run)
            if lf is None:
                return True
            run.status = ACTIVE
            run.resume_at = None
            await self._run(turn, Running(run, lf))
            await self._deliver_proactively(turn, f"resume:{run.id}:{run.step_index}:{turn.now.timestamp()}")
            return True

    async def remind_run(self, payload: dict[str, Any]) -> bool:
        """An unanswered proactive question: ask it again, or (give-up) go on without its answer."""
        async with self.db.transaction() as session:
            run = await session.get(ConversationRun, int(payload["run_id"]))
            if run is None:
                return True
            customer = await customers.lock(session, run.customer_id)
            await session.refresh(run)  # as it is now that the customer's own messages wait for us
            if not checkins.still_asking(run, payload):
                return True  # answered, cancelled or moved on meanwhile
            turn = Turn(session, customer, self.clock.now(), channel="", proactive=True)
            if customer.unreachable or not customer.subscribed:
                self.runner.finish(turn, run, CANCELLED)
                return True
            lf = await self._flow_of(turn, run)
            if lf is None:
                return True
            if payload.get("action") == checkins.REMIND:
                if run.status != ACTIVE or checkins.overtaken(payload, turn.now):
                    return True  # set aside for another flow (asked again when picked up), or overdue
                turn.say(self.runner.question(turn, run, lf, prefix=self._text(self.settings.texts.reminder)))
            else:
                await self._give_up(turn, Running(run, lf))
            await self._deliver_proactively(turn, f"remind:{payload['run_id']}:{payload['step_index']}:"
                                                  f"{payload.get('n')}:{payload['asked']}")  # fmt: skip
            return True

    async def _give_up(self, turn: Turn, running: Running) -> None:
        """Go on without the answer: at the question's `on_timeout` step, else where an answer leads."""
        run, lf, step = running.run, running.lf, running.step
        assert isinstance(step, s.AskStep)
        checkins.give_up(run, step, turn.now, self.settings.outreach.checkins)
        target = lf.index_of(step.on_timeout) if step.on_timeout else self.runner.next_index(lf, run.step_index)
        if run.status == SUSPENDED:
            # Another flow has the foreground. A check-in that only waits for its next day goes on quietly;
            # one that would talk goes on through a resume, which waits its turn like any `wait`.
            after = lf.flow.steps[target] if target < len(lf.flow.steps) else None
            if after is None:
                self.runner.finish(turn, run)
            elif isinstance(after, s.WaitStep):
                await self.runner.pause(turn, run, self.runner.next_index(lf, target), turn.now + after.duration)
            else:
                await self.runner.pause(turn, run, target, turn.now)
            return
        run.step_index = target
        await self._run(turn, running)

    async def start_flow_for(self, customer_id: int, flow_id: str, data: dict[str, Any] | None = None) -> bool:
        """Start a flow proactively (deferred start, campaigns); False when the customer is busy."""
        async with self.db.transaction() as session:
            customer = await customers.lock(session, customer_id)
            turn = Turn(session, customer, self.clock.now(), channel="", proactive=True)
            if not customer.subscribed or customer.unreachable:
                return True  # opted out (or blocked us) after the dispatcher cleared it: nothing to start
            # Not while they are chatting; a flow left unanswered for a while is suspended by the start.
            if await activity.mid_conversation(session, customer_id, turn.now):
                return False
            await self._start(turn, flow_id, data)
            await self._deliver_proactively(turn, f"start:{flow_id}:{customer_id}:{turn.now.timestamp()}")
            return True

    # ---- one inbound message ----------------------------------------------------------------

    async def _handle(self, session: Any, inbound: Inbound, push: bool, check_seen: bool) -> Delivery:
        now = self.clock.now()
        # Found and locked in one statement (PostgreSQL; SQLite's write lock is ours already).
        found = await customers.find_sender(session, inbound.ref)
        customer, last_used = found if found is not None else (None, None)
        locked = customer is not None
        if customer is None and inbound.start_payload:
            # A deep link carrying a link code: this chat joins a customer we already know.
            customer = await links.redeem(session, inbound.start_payload, inbound.ref, now)
        is_new = customer is None
        if customer is None:
            customer = await customers.create_with_identity(
                session, inbound.ref, now, display_name=_clip(inbound.display_name, 200),
                language=_clip(inbound.language, 16), tier=self.settings.tiers.default,
            )  # fmt: skip
        else:
            if not locked:
                customer = await customers.lock(session, customer.id)
            await customers.touch_identity(session, inbound.ref, now, last_used)
        if (
            check_seen
            and inbound.message_id
            and await transcript.already_stored(session, inbound.channel, inbound.message_id)
        ):
            log.info("duplicate delivery ignored: %s %s", inbound.channel, inbound.message_id)
            return Delivery((), duplicate=True)
        if customers.is_stale(customer.last_seen_at, now):
            customer.last_seen_at = now
        if customers.is_stale(customer.last_active_at, now):
            customer.last_active_at = now
        customer.unreachable = False  # they wrote to us, so they can be reached again
        if inbound.display_name and not customer.display_name:
            customer.display_name = _clip(inbound.display_name, 200)
        await transcript.record_inbound(session, customer.id, inbound, now)
        turn = Turn(session, customer, now, inbound.channel)
        started = await self._start_event_flows(turn, "first_contact", None) if is_new else False
        await self._respond(turn, inbound, only_interrupts=started)
        await self._store_replies(turn, inbound.channel)
        if not push or not turn.replies:
            await session.flush()
            return Delivery(tuple(turn.replies))
        item = {
            "kind": outbox.SEND, "customer_id": customer.id, "proactive": False, "status": LEASED, "attempts": 1,
            "dedupe_key": f"reply:{inbound.channel}:{inbound.message_id or uuid.uuid4().hex}"[:200],
            "payload": outbox.send_payload(inbound.ref, turn.replies), "due_at": now,
            "lease_until": now + INLINE_LEASE, "created_at": now,
        }  # fmt: skip
        await session.flush()  # the conversation's changes first, as the dispatcher would read them
        item_id, held = await insert_send(session, item)
        if held:  # behind earlier undelivered replies: the dispatcher sends in order
            await session.execute(_QUEUE_OUTBOX, {"item_id": item_id})
        return Delivery(tuple(turn.replies), item_id, held=held)

    async def _respond(self, turn: Turn, inbound: Inbound, only_interrupts: bool = False) -> None:
        active = await self._active(turn)
        if inbound.choice:
            await self._on_button(turn, inbound.choice, active)
            return
        text = (inbound.text or "").strip()
        if inbound.media is not None and (not text or await self._media_is_wanted(turn, active)):
            # A caption does not make a photo a text message when a photo is what we wait for.
            await self._on_media(turn, inbound.media, active)
            return
        limit = self.settings.conversation.max_text_length
        if len(text) > limit:
            turn.say(Reply(self._text(self.settings.texts.too_long, length=len(text), limit=limit)))
            self._reask_if_waiting(turn, active)
            return
        if not text:
            if not only_interrupts:
                turn.say(Reply(self._text(self.settings.texts.empty)))
                self._reask_if_waiting(turn, active)
            return
        word = self.global_words.match(text)
        if word:
            await self._on_global_word(turn, word, active)
            return
        if text.startswith("/"):
            await self._on_command(turn, text, active, only_interrupts)
            return
        if active is not None and active.run.awaiting_answer and not only_interrupts:
            parsed = self._short_closed_answer(active, text)
            if parsed is not None:
                # "For my work" answers the question even though it resembles "not working".
                await self._take_answer(turn, active, parsed)
                return
        indexes = self.registry.indexes
        hit = indexes.interrupts.best(text, self.settings.intents.interrupt_threshold)
        if hit and (active is None or hit.name != active.lf.id):
            await self._start(turn, hit.name, {"trigger": "intent", "text": text[:500]})
            return
        if only_interrupts:
            return
        if active is not None and active.run.awaiting_answer:
            await self._on_answer(turn, active, text)
            return
        if await self._late_typed_answer(turn, text):
            return
        hit = indexes.intents.best(text, self.settings.intents.threshold)
        if hit:
            await self._start(turn, hit.name, {"trigger": "intent", "text": text[:500]})
            return
        await self._fallback(turn, text)

    def _short_closed_answer(self, active: Running, text: str) -> ans.Parsed | None:
        """A short valid answer to a closed question (a choice, yes/no, a number...) is taken as the
        answer before interrupting intents are checked; free text and longer sentences are not."""
        step = active.step
        if not isinstance(step, s.AskStep) or step.expect in ("text", "media") or len(text.split()) > 4:
            return None
        parsed = ans.parse_text_answer(step, text, self.answer_context)
        return parsed if parsed.ok else None

    async def _media_is_wanted(self, turn: Turn, active: Running | None) -> bool:
        if active is not None and active.run.awaiting_answer:
            step = active.step
            if isinstance(step, s.AskStep) and step.expect == "media":
                return True
        return await tickets.latest_open_for_customer(turn.session, turn.customer.id) is not None

    async def _on_answer(self, turn: Turn, active: Running, text: str) -> None:
        step = active.step
        assert isinstance(step, s.AskStep)
        parsed = ans.parse_text_answer(step, text, self.answer_context)
        if not parsed.ok and step.expect != "text" and await self._relay_to_open_ticket(turn, text):
            return  # not an answer, and a person is following their ticket: it is for them
        await self._take_answer(turn, active, parsed)

    async def _relay_to_open_ticket(self, turn: Turn, text: str) -> bool:
        ticket = await tickets.latest_open_for_customer(turn.session, turn.customer.id)
        if ticket is None:
            return False
        await tickets.add_event(turn.session, ticket, "customer_message", turn.now, actor="customer", body=text)
        await lifecycle.customer_wrote(turn.session, ticket, text, turn.now)
        view = await tickets.template_view(turn.session, ticket, self.settings)
        turn.say(Reply(self._text(self.settings.texts.handoff_existing, ticket=view)))
        return True

    async def _take_answer(self, turn: Turn, active: Running, parsed: ans.Parsed) -> None:
        run, step = active.run, active.step
        assert isinstance(step, s.AskStep)
        if parsed.ok:
            await checkins.settle(turn, run)
            run.answers = {**(run.answers or {}), checkins.answer_key(step, run.step_index): parsed.value}
            run.awaiting_answer = False
            run.attempts = 0
            run.step_index = self.runner.next_index(active.lf, run.step_index)
            run.updated_at = turn.now
            await self._run(turn, active)
            return
        run.attempts += 1
        run.updated_at = turn.now
        retries = step.retries if step.retries is not None else self.settings.conversation.max_retries
        if run.attempts > retries:
            texts = self.settings.texts
            turn.say(Reply(self._text(texts.trouble), (
                Button(texts.talk_to_human, buttons.WordButton("human").value),
                Button(texts.try_again, buttons.WordButton("retry").value),
            )))  # fmt: skip
            return
        turn.say(self.runner.reask(turn, run, active.lf))

    # ---- buttons: acted on only when the bot could have shown them to this customer -------------

    async def _on_button(self, turn: Turn, value: str, active: Running | None) -> None:
        """A pressed button. A payload the bot never showed this customer (forged, garbled, out of range, another
        customer's run) is refused with one log line and changes nothing."""
        try:
            pressed = buttons.parse(value)
        except buttons.InvalidButton as exc:
            self._ignore_button(turn, value, str(exc), forged=True)
            return
        if isinstance(pressed, buttons.AnswerButton):
            await self._on_answer_button(turn, value, pressed, active)
        elif isinstance(pressed, buttons.FlowButton):
            await self._on_flow_button(turn, value, pressed)
        elif pressed.word != "retry":
            await self._on_global_word(turn, pressed.word, active)
        elif active is not None and active.run.awaiting_answer:  # "Try again" after the retries ran out
            active.run.attempts = 0
            turn.say(self.runner.question(turn, active.run, active.lf))
        else:
            self._ignore_button(turn, value, "no question to try again")

    async def _on_answer_button(
        self, turn: Turn, value: str, pressed: buttons.AnswerButton, active: Running | None
    ) -> None:
        """The answer to the open question, or a late answer to one the bot gave up on; otherwise stale."""
        own = active is not None and active.run.id == pressed.run_id
        run = active.run if active is not None and own else await turn.session.get(ConversationRun, pressed.run_id)
        if run is None or run.customer_id != turn.customer.id:
            self._ignore_button(turn, value, "not a run of this customer", forged=True)
            return
        step = await self._asked_step(turn, run, pressed.step_index)
        if step is None or not (parsed := self._button_answer(step, pressed)).ok:
            self._ignore_button(turn, value, "no such question or option in the run's flow", forged=True)
            return
        asking_now = run.step_index == pressed.step_index
        if active is not None and own and run.awaiting_answer and asking_now:
            await self._take_answer(turn, active, parsed)
        elif checkins.timed_out(run, pressed.step_index):
            self._keep_late_answer(turn, run, pressed.step_index, parsed.value, active)
        elif asking_now or checkins.answer_key(step, pressed.step_index) in (run.answers or {}):
            # Pressed twice, or under a question that was answered, given up or left (its run was set aside or
            # cancelled while asking it): an ordinary stale button.
            self._ignore_button(turn, value, "the question is no longer open")
        else:
            self._ignore_button(turn, value, "a question this run has not asked", forged=True)

    async def _on_flow_button(self, turn: Turn, value: str, pressed: buttons.FlowButton) -> None:
        """Start the flow if the customer may start it themselves or the bot offered them this button: a forged
        `f:` must not start an internal flow (a ticket follow-up without a ticket, someone else's campaign)."""
        lf = self.registry.current(pressed.flow_id)
        if lf is None:
            self._ignore_button(turn, value, "no such flow in force", forged=True)
        elif offers.customer_may_start(lf.flow) or await offers.was_offered(turn.session, turn.customer.id, pressed):
            await self._start(turn, lf.id, {"trigger": "button"})
        else:
            self._ignore_button(turn, value, "a flow this customer was never offered", forged=True)

    def _button_answer(self, step: s.AskStep, pressed: buttons.AnswerButton) -> ans.Parsed:
        if pressed.option is not None:
            return ans.parse_choice_index(step, pressed.option)
        if step.optional:
            return ans.Parsed(ok=True, value=None, display=self.settings.texts.skip)
        return ans.Parsed(ok=False, error="bad_button")

    def _ignore_button(self, turn: Turn, value: str, reason: str, *, forged: bool = False) -> None:
        """One log line, and the polite notice of a stale button, whatever the reason: a real customer pressing an
        old button learns what happened, and a forger cannot tell another customer's run from a missing one."""
        level = logging.WARNING if forged else logging.INFO
        log.log(level, "button ignored for customer %s (%s): %r", turn.customer.id, reason, value[:80])
        turn.say(Reply(self._text(self.settings.texts.stale_button), stale=True))

    # ---- late answers (to a question the bot gave up on) -----------------------------------

    async def _late_typed_answer(self, turn: Turn, text: str) -> bool:
        """Typed text that answers the latest given-up question (closed questions only: free text
        would swallow whatever the customer writes next), while no other question is open."""
        query = (
            select(ConversationRun)
            .where(ConversationRun.customer_id == turn.customer.id, ConversationRun.status != CANCELLED)
            .order_by(ConversationRun.updated_at.desc(), ConversationRun.id.desc())
            .limit(3)
        )
        for run in (await turn.session.execute(query)).scalars():
            index = checkins.typed_late_step(run, turn.now)
            if index is None:
                continue
            step = await self._asked_step(turn, run, index)
            if step is None or step.expect in ("text", "media"):
                return False
            parsed = ans.parse_text_answer(step, text, self.answer_context)
            if not parsed.ok:
                return False
            self._keep_late_answer(turn, run, index, parsed.value, None)
            return True
        return False

    async def _asked_step(self, turn: Turn, run: ConversationRun, index: int) -> s.AskStep | None:
        lf = await self._version(turn, run.flow_id, run.flow_version)
        step = lf.flow.steps[index] if lf is not None and index < len(lf.flow.steps) else None
        return step if isinstance(step, s.AskStep) else None

    def _keep_late_answer(
        self, turn: Turn, run: ConversationRun, index: int, value: Any, active: Running | None
    ) -> None:
        checkins.record_late(run, index, value, turn.now)
        turn.say(Reply(self._text(self.settings.texts.late_answer)))
        self._reask_if_waiting(turn, active)  # the question that is open now, so it is not lost

    async def _on_media(self, turn: Turn, media: Media, active: Running | None) -> None:
        if active is not None and active.run.awaiting_answer:
            step = active.step
            assert isinstance(step, s.AskStep)
            if step.expect == "media":
                await self._take_answer(turn, active, ans.parse_media_answer(step, media.kind, media.ref))
                return
        ticket = await tickets.latest_open_for_customer(turn.session, turn.customer.id)
        if ticket is not None and media.kind in ("photo", "document", "video"):
            await tickets.attach(turn.session, ticket, {"kind": media.kind, "ref": media.ref}, turn.now)
            await lifecycle.customer_wrote(turn.session, ticket, f"({media.kind} attached) {media.caption}", turn.now)
            view = await tickets.template_view(turn.session, ticket, self.settings)
            turn.say(Reply(self._text(self.settings.texts.handoff_existing, ticket=view)))
            return
        turn.say(Reply(self._text(self.settings.texts.unsupported_media)))
        self._reask_if_waiting(turn, active)

    async def _on_command(self, turn: Turn, text: str, active: Running | None, only_interrupts: bool) -> None:
        command = text.split()[0].split("@")[0].lower()
        flow_id = self.registry.indexes.commands.get(command)
        if flow_id is None:
            turn.say(self._menu(self._text(self.settings.texts.unknown_command, command=command[:40])))
            return
        if only_interrupts and active is not None and active.lf.id == flow_id:
            return  # e.g. the first /start already began onboarding through first_contact
        await self._start(turn, flow_id, {"trigger": "command", "command": command})

    async def _on_global_word(self, turn: Turn, word: str, active: Running | None) -> None:
        conv, texts = self.settings.conversation, self.settings.texts
        if word == "menu":
            turn.say(self._menu(self._text(texts.menu)))
        elif word == "cancel":
            if active is None:
                turn.say(self._menu(self._text(texts.nothing_to_cancel)))
                return
            self.runner.finish(turn, active.run, CANCELLED)
            await self._drop_suspended(turn)
            turn.say(self._menu(self._text(texts.cancelled)))
        elif word == "human":
            if conv.human_flow and self.registry.current(conv.human_flow):
                await self._start(turn, conv.human_flow, {"trigger": "human"})
            else:
                await self._hand_off(turn, active)
        elif word == "stop":
            if conv.stop_flow and self.registry.current(conv.stop_flow):
                await self._start(turn, conv.stop_flow, {"trigger": "stop"})
            else:
                await unsubscribe(turn)
                turn.say(Reply(self._text(texts.unsubscribed)))
        elif word == "resubscribe":
            subscribe(turn.customer)
            turn.say(Reply(self._text(texts.resubscribed)))

    async def _hand_off(self, turn: Turn, active: Running | None) -> None:
        """ "Talk to a person": open (or reuse) a hand-off ticket with the recent transcript."""
        texts = self.settings.texts
        existing = await tickets.latest_open_for_customer(turn.session, turn.customer.id)
        if existing is not None:
            await tickets.add_event(turn.session, existing, "human_requested", turn.now, actor="customer")
            view = await tickets.template_view(turn.session, existing, self.settings)
            turn.say(Reply(self._text(texts.handoff_existing, ticket=view)))
            return
        if active is not None:
            self.runner.finish(turn, active.run, CANCELLED)
        ticket = await tickets.open_ticket(
            turn.session, self.settings, customer_id=turn.customer.id, now=turn.now, kind="handoff",
            category="handoff", summary="Customer asked to talk to a person",
            description=await self._recent_transcript(turn), channel=turn.channel,
        )  # fmt: skip
        view = await tickets.template_view(turn.session, ticket, self.settings)
        turn.say(Reply(self._text(texts.handoff, ticket=view)))

    async def _fallback(self, turn: Turn, text: str) -> None:
        if await self._relay_to_open_ticket(turn, text):
            return
        turn.say(self._menu(self._text(self.settings.texts.fallback)))

    # ---- runs -------------------------------------------------------------------------------

    async def _start(self, turn: Turn, flow_id: str, data: dict[str, Any] | None) -> bool:
        lf = self.registry.current(flow_id)
        if lf is None:
            log.error("flow %r is not loaded; cannot start it", flow_id)
            turn.say(self._menu(self._text(self.settings.texts.fallback)))
            return False
        active = await self._active(turn)
        if active is not None:
            if active.lf.id == flow_id:
                self.runner.finish(turn, active.run, CANCELLED)  # starting a flow again restarts it
            else:
                active.run.status = SUSPENDED
                active.run.updated_at = turn.now
        for other in await self._open_runs(turn, flow_id):
            self.runner.finish(turn, other, CANCELLED)
        await self._persist_version(turn, lf)
        context: dict[str, Any] = {"trigger": data or {}}
        # Only a real ticket of this customer's: a flow about a ticket (the follow-up after a resolution) shows it.
        ticket = await lifecycle.ticket_of_customer(turn.session, turn.customer.id, (data or {}).get("ticket_id"))
        if ticket is not None:
            context.update(ticket_id=ticket.id, ticket=await tickets.template_view(turn.session, ticket, self.settings))
        run = ConversationRun(
            customer_id=turn.customer.id, flow_id=lf.id, flow_version=lf.version, step_index=0,
            status=ACTIVE, answers={}, context=context, started_at=turn.now, updated_at=turn.now,
        )  # fmt: skip
        turn.session.add(run)
        await turn.session.flush()
        await self._run(turn, Running(run, lf))
        return True

    async def _run(self, turn: Turn, running: Running) -> None:
        try:
            await self.runner.advance(turn, running.run, running.lf)
        except FlowHandOff as handoff:
            self.runner.finish(turn, running.run)
            await self._start(turn, handoff.flow_id, {"trigger": "start_flow", "from": running.lf.id})
            return
        running.run.updated_at = turn.now
        if running.run.status != ACTIVE:
            # Ended or paused by a wait: either way the foreground is free for the flow it interrupted.
            await self._resume_suspended(turn)

    async def _resume_suspended(self, turn: Turn) -> None:
        """After an interruption ends, pick the interrupted flow up again at its question."""
        query = (
            select(ConversationRun)
            .where(ConversationRun.customer_id == turn.customer.id, ConversationRun.status == SUSPENDED)
            .order_by(ConversationRun.updated_at.desc(), ConversationRun.id.desc())
        )
        suspended = list((await turn.session.execute(query)).scalars())
        if not suspended:
            return
        # A stack: the latest interrupted flow resumes; older ones wait their turn unless stale.
        window = timedelta(hours=self.settings.conversation.resume_within_hours)
        latest = None
        for run in suspended:
            # A check-in question has its own give-up time, so it is picked up however long it was set aside.
            fresh = turn.now - run.updated_at <= window or checkins.is_proactive(run)
            lf = await self._flow_of(turn, run) if fresh else None
            if lf is not None and isinstance(lf.flow.steps[run.step_index], s.AskStep):
                latest = run
                break
            self.runner.finish(turn, run, CANCELLED)
        if latest is None or lf is None:
            return
        latest.status = ACTIVE
        latest.awaiting_answer = True
        latest.attempts = 0
        latest.updated_at = turn.now
        turn.say(self.runner.question(turn, latest, lf, prefix=self._text(self.settings.texts.resuming)))
        step = lf.flow.steps[latest.step_index]
        assert isinstance(step, s.AskStep)
        await checkins.on_question(turn, latest, step, self.settings.outreach.checkins, remind=False)

    async def _drop_suspended(self, turn: Turn) -> None:
        query = select(ConversationRun).where(
            ConversationRun.customer_id == turn.customer.id, ConversationRun.status == SUSPENDED
        )
        for run in (await turn.session.execute(query)).scalars():
            self.runner.finish(turn, run, CANCELLED)

    async def _active(self, turn: Turn) -> Running | None:
        runs = list((await turn.session.execute(_ACTIVE_RUNS, {"customer_id": turn.customer.id})).scalars())
        for extra in runs[1:]:
            self.runner.finish(turn, extra, CANCELLED)  # at most one foreground run per customer
        if not runs:
            return None
        lf = await self._flow_of(turn, runs[0])
        if lf is None:
            return None
        return Running(runs[0], lf)

    async def _open_runs(self, turn: Turn, flow_id: str) -> list[ConversationRun]:
        query = select(ConversationRun).where(
            ConversationRun.customer_id == turn.customer.id,
            ConversationRun.flow_id == flow_id,
            ConversationRun.status.in_((WAITING, SUSPENDED)),
        )
        return list((await turn.session.execute(query)).scalars())

    async def _flow_of(self, turn: Turn, run: ConversationRun) -> LoadedFlow | None:
        """The exact version a run started on; a run whose version is gone is closed."""
        lf = await self._version(turn, run.flow_id, run.flow_version)
        if lf is None or run.step_index >= len(lf.flow.steps):
            log.error("run %s: flow %s version %s is unavailable; closing it", run.id, run.flow_id, run.flow_version)
            self.runner.finish(turn, run, CANCELLED)
            return None
        return lf

    async def _version(self, turn: Turn, flow_id: str, version: str) -> LoadedFlow | None:
        """One version of a flow: in memory, else read back from the database."""
        lf = self.registry.version(flow_id, version)
        if lf is None:
            query = select(FlowVersion).where(FlowVersion.flow_id == flow_id, FlowVersion.version == version)
            stored = (await turn.session.execute(query)).scalar_one_or_none()
            if stored is not None:
                try:
                    lf = self.registry.remember(stored.flow_id, stored.version, stored.source, stored.path)
                except Exception:
                    log.exception("stored version %s of flow %s no longer parses", version, flow_id)
        return lf

    async def _persist_version(self, turn: Turn, lf: LoadedFlow) -> None:
        key = (lf.id, lf.version)
        if key in self._persisted_versions:
            return
        query = select(FlowVersion.id).where(FlowVersion.flow_id == lf.id, FlowVersion.version == lf.version)
        if (await turn.session.execute(query)).first() is None:
            async with turn.session.begin_nested():
                await turn.session.execute(insert(FlowVersion).values(
                    flow_id=lf.id, version=lf.version, path=lf.path, source=lf.source, loaded_at=turn.now,
                ))  # fmt: skip
        self._persisted_versions.add(key)

    async def _start_event_flows(self, turn: Turn, event: str, data: dict[str, Any] | None) -> bool:
        flow_ids = self.registry.indexes.events.get(event, [])
        for flow_id in flow_ids[:1]:  # one foreground flow per event; the first file wins
            return await self._start(turn, flow_id, {"trigger": "event", "event": event, **(data or {})})
        return False

    async def _defer_start(self, turn: Turn, flow_id: str, data: dict[str, Any] | None) -> None:
        await outbox.enqueue(
            turn.session, kind=ConversationKind.START_FLOW,
            dedupe_key=f"start:{flow_id}:{turn.customer.id}:{turn.now.timestamp()}",
            due_at=turn.now + timedelta(minutes=self.settings.outreach.defer_minutes), customer_id=turn.customer.id,
            payload={"flow_id": flow_id, "data": data or {}}, proactive=True,
        )  # fmt: skip

    # ---- helpers ----------------------------------------------------------------------------

    def _text(self, template: str, **extra: Any) -> str:
        context = {"business": {"name": self.settings.business.name}, **extra}
        return templating.render(template, context)

    def _menu(self, text: str) -> Reply:
        menu = [Button(label, buttons.FlowButton(flow_id).value) for label, flow_id in self.registry.indexes.menu]
        menu.append(Button(self.settings.texts.talk_to_human, buttons.WordButton("human").value))
        return Reply(text, tuple(menu))

    def _reask_if_waiting(self, turn: Turn, active: Running | None) -> None:
        if active is not None and active.run.awaiting_answer:
            turn.say(self.runner.question(turn, active.run, active.lf))

    async def _store_replies(self, turn: Turn, channel: str) -> None:
        """The replies to the transcript."""
        await transcript.record_outbound(turn.session, turn.customer.id, channel, turn.replies, turn.now)

    async def _deliver_proactively(self, turn: Turn, key: str) -> None:
        """Record replies made without an inbound message and queue them for sending."""
        if not turn.replies:
            return
        ref = await customers.preferred_ref(turn.session, turn.customer.id)
        if ref is None:
            return
        await self._store_replies(turn, ref.channel)
        await outbox.enqueue_send(
            turn.session, customer_id=turn.customer.id, ref=ref, replies=turn.replies,
            dedupe_key=f"send:{key}", due_at=turn.now, proactive=False,
        )  # fmt: skip

    async def _recent_transcript(self, turn: Turn, limit: int = 12) -> str:
        rows = await transcript.latest(turn.session, turn.customer.id, limit)
        return "\n".join(f"{'customer' if m.direction == 'in' else 'bot'}: {(m.text or '')[:300]}" for m in rows)


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else value


def _clean_text(text: str) -> str:
    """`text` as it can be stored and matched: PostgreSQL refuses NUL in text and neither database
    nor any encoder takes a lone surrogate, so a paired surrogate becomes its character, a lone one
    U+FFFD, and NUL and the other control characters (bar tab and line breaks) are dropped."""
    if text.isprintable():
        return text  # the common case: nothing to do
    joined = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return joined.translate(_CONTROL_CHARS)


def _clean_optional(text: str | None) -> str | None:
    return _clean_text(text) if text else text


def _sanitize_inbound(inbound: Inbound) -> Inbound:
    """Every text an adapter hands over, cleaned once, before it is stored, matched or echoed."""
    media = inbound.media
    if media is not None:
        media = Media(_clean_text(media.kind), _clean_text(media.ref), _clean_text(media.caption))
    return replace(
        inbound, channel=_clean_text(inbound.channel), address=_clean_text(inbound.address),
        text=_clean_optional(inbound.text), choice=_clean_optional(inbound.choice), media=media,
        message_id=_clean_optional(inbound.message_id), display_name=_clean_optional(inbound.display_name),
        language=_clean_optional(inbound.language), start_payload=_clean_optional(inbound.start_payload),
    )  # fmt: skip


__all__ = ["ChannelRef", "ConversationEngine"]
