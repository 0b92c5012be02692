"""The transcript: what every writer records reads back in order, as the web chat, the hand-off and the duplicate
check see it."""

from __future__ import annotations

from bot import transcript
from bot.core import Core
from bot.customers import records as customers
from bot.messages import Button, ChannelRef, Inbound, Media, Reply, reply_to_dict
from tests.conftest import FixedClock

ANA = ChannelRef("web", "ana-0123456789abcdef")
BEN = ChannelRef("web", "ben-0123456789abcdef")


async def test_what_was_said_both_ways_reads_back_in_order(core: Core, clock: FixedClock) -> None:
    long_text = "x" * (transcript.MAX_STORED_TEXT + 5)
    question = Reply("How was it?", (Button("Good", "a:1:0:0"),), answer_kind="choice")
    async with core.db.transaction() as session:
        ana = await customers.create_with_identity(session, ANA, clock.now())
        await transcript.record_inbound(session, ana.id, Inbound(ANA.channel, ANA.address, "hi", message_id="m1"),
                                        clock.now())  # fmt: skip
        await transcript.record_inbound(session, ana.id, Inbound(
            ANA.channel, ANA.address, long_text, choice="c" * 300, media=Media("photo", "r" * 600), message_id="m2",
        ), clock.now())  # fmt: skip
        await transcript.record_outbound(session, ana.id, ANA.channel, [question], clock.now())
        await transcript.record_outbound(session, ana.id, ANA.channel, [Reply("Rui: on it")], clock.now(),
                                         ticket_ref="C-1000")  # fmt: skip
        assert await transcript.already_stored(session, ANA.channel, "m1")
        assert not await transcript.already_stored(session, ANA.channel, "m3")
        assert [m.text for m in await transcript.latest(session, ana.id, 2)] == ["How was it?", "Rui: on it"]

    rows = await transcript.messages_after(core.db, ANA, 0)
    assert [(m.direction, m.platform_message_id) for m in rows] == [("in", "m1"), ("in", "m2"), ("out", None),
                                                                    ("out", None)]  # fmt: skip
    assert rows[0].payload == {}
    assert rows[1].text == long_text[: transcript.MAX_STORED_TEXT]
    assert rows[1].payload == {"choice": "c" * 200, "media": {"kind": "photo", "ref": "r" * 500},
                               "truncated_from": len(long_text)}  # fmt: skip
    assert rows[2].payload == reply_to_dict(question)
    assert rows[3].payload == {"text": "Rui: on it", "ticket": "C-1000"}
    assert [m.text for m in await transcript.messages_after(core.db, ANA, rows[1].id)] == ["How was it?", "Rui: on it"]
    assert await transcript.messages_after(core.db, ChannelRef("web", "nobody-0123456789"), 0) == []


async def test_many_customers_messages_are_recorded_at_once(core: Core, clock: FixedClock) -> None:
    async with core.db.transaction() as session:
        ana = await customers.create_with_identity(session, ANA, clock.now())
        ben = await customers.create_with_identity(session, BEN, clock.now())
        await transcript.record_outbound_many(session, [
            transcript.Outbound(ana.id, ANA.channel, [Reply("Tip 1"), Reply("Tip 2")]),
            transcript.Outbound(ben.id, BEN.channel, [Reply("Tip 1")]),
        ], clock.now())  # fmt: skip
        await transcript.record_outbound_many(session, [], clock.now())  # nothing to record: no statement

    assert [m.text for m in await transcript.messages_after(core.db, ANA, 0)] == ["Tip 1", "Tip 2"]
    assert [(m.text, m.payload) for m in await transcript.messages_after(core.db, BEN, 0)] == [
        ("Tip 1", {"text": "Tip 1"})
    ]
