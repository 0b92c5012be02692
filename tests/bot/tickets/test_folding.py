"""Staff notices in a flood: past `slack.fold.max_posts` new tickets (or SLA alarms, or customers writing again on
tickets that have no thread yet) per channel within the window, the rest go into one digest (one summary, one DM per
assignee) instead of one post each; every folded ticket still gets its thread as soon as someone needs it, showing
what its customer wrote meanwhile. Through the core and the dispatcher, with the StaffDesk port recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.core import Core
from bot.outbox.models import OutboxItem
from bot.ports import DeliveryError
from bot.tickets import desk as desk_views
from bot.tickets import folding
from bot.tickets.kinds import TicketKind
from bot.tickets.models import Ticket
from bot.tickets.staffdesk import DeskThread, NoticeDetails, StaffDigest, StaffNotice, StaffNoticeKind
from bot.tickets.views import Person
from tests.bot.tickets.test_lifecycle import STAFF, events, ticket
from tests.conftest import Chat, FixedClock, make_settings

FOLD = {"max_posts": 3, "window_seconds": 60, "collect_seconds": 10}
ROUTING = {"fallback": "dana"}  # every ticket to the on-call lead, as in a flood


@dataclass
class RecordingDesk:
    """The StaffDesk port: records notices and digests; a notice about a ticket without a thread starts one."""

    down: int = 0
    notices: list[StaffNotice] = field(default_factory=list)
    digests: list[StaffDigest] = field(default_factory=list)

    async def notify(self, notice: StaffNotice) -> DeskThread | None:
        if self.down:
            self.down -= 1
            raise DeliveryError("slack: service_unavailable")
        self.notices.append(notice)
        if notice.ticket.desk_thread:
            return None
        return DeskThread(channel="C0SUPPORT", thread=f"1700000000.{notice.ticket.id:06d}")

    async def digest(self, digest: StaffDigest) -> None:
        self.digests.append(digest)

    def posted(self, kind: str = "opened") -> list[str]:
        return [n.ticket.ref for n in self.notices if n.kind == kind]


@pytest.fixture
def settings(tmp_path: Path, database_url: str, flows_dir: Path) -> Settings:
    return make_settings(tmp_path, database_url, flows_dir, staff=STAFF, routing=ROUTING,
                         slack={"channels": {"default": "C0SUPPORT"}, "fold": FOLD})  # fmt: skip


@pytest.fixture
def desk(core: Core) -> RecordingDesk:
    recording = RecordingDesk()
    core.set_staff_desk(recording)
    return recording


async def flood(core: Core, count: int, start: int = 0) -> list[str]:
    """`count` different web chat customers ask for a person at once; their ticket references, in order."""
    for n in range(start, start + count):
        said = await Chat(core, address=f"visitor-{n}", name=f"Visitor {n}").say("talk to a person")
        assert "I've passed this to our team" in said
    async with core.db.sessions() as session:
        refs = (await session.execute(select(Ticket.ref).order_by(Ticket.id))).scalars()
        return [str(ref) for ref in refs][start:]


async def test_a_flood_of_new_tickets_is_posted_as_a_few_and_one_summary(
    core: Core, desk: RecordingDesk, clock: FixedClock
) -> None:
    refs = await flood(core, 12)
    await core.dispatcher.drain()
    posted = desk.posted()
    assert len(posted) == 3 and desk.digests == []  # three at once (any three); the summary collects

    clock.advance(seconds=9)
    await core.dispatcher.drain()
    assert desk.digests == []
    clock.advance(seconds=1)
    await core.dispatcher.drain()
    (digest,) = desk.digests
    assert (digest.place, digest.counts, digest.sources) == ("C0SUPPORT", {"opened": 9}, {"web": 9})
    assert sorted([t.ref for t in digest.tickets] + posted) == refs  # every ticket named once
    assert {t.notice for t in digest.tickets} == {"opened"}
    assert digest.tickets[0].assignee == Person(key="dana", name="Dana Okafor", slack_user_id="U0EXAMPLE1")
    assert digest.assignees["dana"].counts == {"opened": 9}
    assert (digest.max_posts, digest.window_seconds, (digest.until - digest.since).total_seconds()) == (3, 60, 10)
    assert len(desk.notices) == 3  # nothing else went out
    # Each folded ticket's timeline says where it was announced; nothing is left in the outbox.
    folded = digest.tickets[0].ref
    assert [kind for kind, _, _ in await events(core, folded)] == ["opened", "assigned", "folded"]
    async with core.db.sessions() as session:
        assert set((await session.execute(select(OutboxItem.status))).scalars()) == {"done"}


async def test_a_folded_ticket_gets_its_thread_when_someone_needs_it(
    core: Core, desk: RecordingDesk, clock: FixedClock
) -> None:
    await flood(core, 5)
    await core.dispatcher.drain()
    clock.advance(seconds=10)
    await core.dispatcher.drain()
    folded = desk.digests[0].tickets[0].ref
    assert folded not in desk.posted() and (await ticket(core, folded)).desk_thread is None

    # A claim from the command line stays on the timeline: it needs no thread of its own.
    assert (await core.tickets.claim(folded, "dana")).ok
    await core.dispatcher.drain()
    assert [n.kind for n in desk.notices if n.ticket.ref == folded] == []

    # Once the flood is over, the customer writes: that needs a person to read it, so the ticket's thread starts.
    clock.advance(seconds=60)
    number = int(folded.removeprefix("C-")) - 1001
    said = await Chat(core, address=f"visitor-{number}", name=f"Visitor {number}").say("Hello? Anyone?")
    assert said.startswith(f"I've added this to your ticket {folded}.")
    await core.dispatcher.drain()
    (message,) = [n for n in desk.notices if n.ticket.ref == folded]
    assert (message.kind, message.ticket.desk_thread, message.earlier) == ("customer_message", None, ())
    stored = await ticket(core, folded)
    assert (stored.desk_channel, stored.desk_thread) == ("C0SUPPORT", f"1700000000.{stored.id:06d}")

    # Later notices go to that thread; picking it from a summary points the person to it.
    assert (await core.tickets.show(folded, "maria")).ok
    await core.dispatcher.drain()
    shown = desk.notices[-1]
    assert (shown.kind, shown.actor, shown.details) == (
        "shown",
        "Maria Santos",
        NoticeDetails(slack_user_id="U0EXAMPLE2"),
    )
    assert shown.ticket.desk_thread == stored.desk_thread


async def test_sla_reminders_of_a_flood_fold_too(core: Core, desk: RecordingDesk, clock: FixedClock) -> None:
    refs = await flood(core, 8)
    await core.dispatcher.drain()
    clock.advance(seconds=10)
    await core.dispatcher.drain()
    assert len(desk.digests) == 1
    desk.notices.clear()
    desk.digests.clear()

    clock.advance(hours=7, minutes=45)  # the first response (8 hours) is due in 15 minutes: all of them at once
    assert await core.watch_sla() == 8
    await core.dispatcher.drain()
    clock.advance(seconds=10)
    await core.dispatcher.drain()
    reminded = desk.posted("sla_reminder")
    (digest,) = desk.digests
    assert len(reminded) == 3 and digest.counts == {"sla_reminder": 5} and digest.sources == {}
    assert sorted(reminded + [t.ref for t in digest.tickets]) == refs
    assert {t.clock for t in digest.tickets} == {"first_response"}
    due = digest.tickets[0].due
    assert due is not None and due.text == "Mon 02 Mar 17:00 UTC"


async def test_the_sla_reminder_of_a_folded_ticket_starts_its_thread(
    core: Core, desk: RecordingDesk, clock: FixedClock
) -> None:
    refs = await flood(core, 4)
    await core.dispatcher.drain()
    clock.advance(seconds=10)
    await core.dispatcher.drain()
    (folded,) = [str(t.ref) for t in desk.digests[0].tickets]
    for ref in set(refs) - {folded}:  # the others are resolved: only the folded one is still due
        assert (await core.tickets.resolve(ref, "dana", "Sorted.")).ok
    await core.dispatcher.drain()
    clock.advance(hours=7, minutes=45)
    assert await core.watch_sla() == 1
    await core.dispatcher.drain()
    reminder = desk.notices[-1]
    assert (reminder.kind, reminder.ticket.ref, reminder.ticket.desk_thread) == ("sla_reminder", folded, None)
    assert (await ticket(core, folded)).desk_thread is not None  # its thread now exists, for what comes next


async def test_after_a_flood_tickets_are_posted_one_by_one_again(
    core: Core, desk: RecordingDesk, clock: FixedClock
) -> None:
    await flood(core, 6)
    await core.dispatcher.drain()
    clock.advance(seconds=30)
    await core.dispatcher.drain()  # the summary
    clock.advance(seconds=20)  # the channel's bucket drains max_posts per window
    (later,) = await flood(core, 1, start=6)
    await core.dispatcher.drain()
    assert desk.posted()[-1] == later and len(desk.digests) == 1


async def test_a_long_flood_makes_one_summary_per_window(core: Core, desk: RecordingDesk, clock: FixedClock) -> None:
    for minute in range(3):
        for second in range(0, 60, 5):  # a ticket every 5 seconds for 3 minutes: 36 tickets
            await flood(core, 1, start=minute * 12 + second // 5)
            await core.dispatcher.drain()
            clock.advance(seconds=5)
    clock.advance(seconds=60)
    await core.dispatcher.drain()
    assert len(desk.posted()) == 3  # only the start of the flood one by one
    # The first summary 10 s after folding began (at 15 s), then one a window after the other.
    assert [sum(d.counts.values()) for d in desk.digests] == [2, 12, 12, 7]
    assert sum(len(d.tickets) for d in desk.digests) == 33


async def test_notices_slack_refused_do_not_count_towards_a_flood(
    core: Core, desk: RecordingDesk, clock: FixedClock
) -> None:
    desk.down = 6
    refs = await flood(core, 3)
    for _ in range(3):  # each tried and refused twice while Slack is down
        await core.dispatcher.drain()
        clock.advance(seconds=6)
    clock.advance(seconds=30)
    for _ in range(3):
        await core.dispatcher.drain()
    assert sorted(desk.posted()) == refs and desk.digests == []


async def test_a_notice_folded_twice_by_a_worker_that_died_is_counted_once(
    core: Core, desk: RecordingDesk, clock: FixedClock
) -> None:
    await flood(core, 4)
    await core.dispatcher.drain()
    async with core.db.sessions() as session:
        (row,) = (await session.execute(select(OutboxItem).where(OutboxItem.kind == TicketKind.STAFF_DIGEST))).scalars()
    ((ticket_id, folded),) = [(t, e) for t in range(1, 5) for e in await events_of(core, t)]
    async with core.db.sessions() as session:
        stored = await session.get(Ticket, ticket_id)
        assert stored is not None and stored.channel == "web"
        view = await desk_views.ticket_view(session, core.settings, stored)
    assert view.desk_channel == "C0SUPPORT"
    notice = StaffNotice(StaffNoticeKind.OPENED, view)
    async with core.db.transaction() as session:  # the same row carried out again
        verdict = await folding.admit(session, core.settings.slack.fold, notice, folded["notice_id"], clock.now())
    assert verdict == "folded"
    async with core.db.sessions() as session:
        again = await session.get(OutboxItem, row.id)
        assert again is not None and again.payload["counts"] == {"opened": 1}


async def events_of(core: Core, ticket_id: int) -> list[dict]:
    from bot.tickets.models import TicketEvent

    async with core.db.sessions() as session:
        query = select(TicketEvent.data).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "folded")
        return [dict(d) for d in (await session.execute(query)).scalars()]


async def test_without_channels_the_flood_is_summarised_in_the_assignees_dm(
    tmp_path: Path, database_url: str, flows_dir: Path, clock: FixedClock
) -> None:
    settings = make_settings(tmp_path, database_url, flows_dir, staff=STAFF, routing=ROUTING, slack={"fold": FOLD})
    core = Core(settings, clock=clock)
    await core.prepare()
    try:
        desk = RecordingDesk()
        core.set_staff_desk(desk)
        await flood(core, 5)
        await core.dispatcher.drain()
        clock.advance(seconds=10)
        await core.dispatcher.drain()
        assert len(desk.posted()) == 3 and [d.place for d in desk.digests] == ["U0EXAMPLE1"]
    finally:
        await core.close()


LATER = ("Hello? Is anyone there?", "Any news?")  # what customers add while they wait


async def write_again(core: Core, ref: str, lines: tuple[str, ...]) -> None:
    """The customer of `ref` (from `flood`) writes `lines`; each is added to their ticket."""
    number = int(ref.removeprefix("C-")) - 1001
    chat = Chat(core, address=f"visitor-{number}", name=f"Visitor {number}")
    for line in lines:
        assert (await chat.say(line)).startswith(f"I've added this to your ticket {ref}.")


async def test_customers_of_a_flood_writing_again_are_summarised_not_posted_one_thread_each(
    core: Core, desk: RecordingDesk, clock: FixedClock
) -> None:
    refs = await flood(core, 40)  # as the review found it (tests/reliability/test_ticket_flood.py: 300, over HTTP)
    await core.dispatcher.drain()
    clock.advance(seconds=10)
    await core.dispatcher.drain()  # the first summary: 37 new tickets
    posted = set(desk.posted())
    assert len(posted) == 3 and [d.counts for d in desk.digests] == [{"opened": 37}]

    # Every customer writes once or twice more, still within the flood's minute.
    for n, ref in enumerate(refs):
        await write_again(core, ref, LATER[: 1 + n % 2])
    for _ in range(3):  # a ticket's second line waits (a second) for its first
        await core.dispatcher.drain()
        clock.advance(seconds=1)
    clock.advance(seconds=60)
    await core.dispatcher.drain()

    # No ticket got a message of its own for it: the posted tickets' threads got their lines, and one more summary
    # names each other ticket once, however many lines its customer wrote. Slack saw a handful of messages.
    late = [n for n in desk.notices if n.kind != "opened" and not n.ticket.desk_thread]
    assert late == []
    assert {n.ticket.ref for n in desk.notices if n.kind == "customer_message"} == posted
    assert len(desk.notices) + len(desk.digests) <= 3 + 6 + 2
    (_, again) = desk.digests
    assert again.counts == {"customer_message": 37} and again.sources == {}
    assert sorted(t.ref for t in again.tickets) == sorted(set(refs) - posted)
    assert {t.notice for t in again.tickets} == {"customer_message"}
    assert again.assignees["dana"].counts == {"customer_message": 37}

    # Picked from the summary, a ticket's thread starts with everything its customer wrote meanwhile.
    picked = next(str(t.ref) for t in again.tickets if (int(str(t.ref)[2:]) - 1001) % 2)
    timeline = [kind for kind, _, _ in await events(core, picked)]
    assert timeline[-4:] == ["customer_message", "customer_message", "folded", "folded"]
    assert (await core.tickets.show(picked, "maria")).ok
    await core.dispatcher.drain()
    shown = desk.notices[-1]
    assert (shown.kind, shown.ticket.ref, shown.ticket.desk_thread, shown.earlier) == ("shown", picked, None,
                                                                                               LATER)  # fmt: skip
    # From then on the customer's words go to that thread as they come.
    await write_again(core, picked, ("Thanks!",))
    await core.dispatcher.drain()
    thanks = desk.notices[-1]
    assert (thanks.kind, thanks.text, thanks.earlier) == ("customer_message", "Thanks!", ())
    assert thanks.ticket.desk_thread == (await ticket(core, picked)).desk_thread is not None


async def test_staff_acting_on_a_summarised_ticket_start_its_thread_at_once_even_in_a_flood(
    core: Core, desk: RecordingDesk, clock: FixedClock
) -> None:
    refs = await flood(core, 8)
    await core.dispatcher.drain()
    folded = [ref for ref in refs if ref not in desk.posted()]
    for ref in folded[:2]:
        await write_again(core, ref, LATER)
    for _ in range(2):  # a ticket's second line waits (a second) for its first
        await core.dispatcher.drain()
        clock.advance(seconds=1)
    assert len(desk.notices) == 3  # the channel's bucket is full: the customers' lines wait in the summary

    # People, not a flood: a reassignment is posted now, in the ticket's new thread after what the customer wrote. A
    # claim from the command line still needs no thread (the lines are on its timeline and in the next summary).
    assert (await core.tickets.reassign(folded[0], "dana", "maria")).ok
    assert (await core.tickets.claim(folded[1], "dana")).ok
    await core.dispatcher.drain()
    (reassigned,) = desk.notices[3:]
    assert (reassigned.kind, reassigned.ticket.ref, reassigned.earlier) == ("reassigned", folded[0], LATER)
    assert reassigned.ticket.desk_thread is None and (await ticket(core, folded[0])).desk_thread
    assert (await ticket(core, folded[1])).desk_thread is None
