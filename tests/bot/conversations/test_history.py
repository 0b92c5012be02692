"""A chat's transcript as adapters read it: both directions in order, from a message id on; nothing for a stranger."""

from __future__ import annotations

from bot.core import Core
from bot.messages import ChannelRef
from tests.conftest import Chat


async def test_the_transcript_has_both_directions_after_a_message_id(core: Core) -> None:
    chat = Chat(core, channel="web", address="visitor-a")
    await chat.send("hi", message_id="visitor-a:1")
    ref = ChannelRef("web", "visitor-a")

    entries = await core.transcripts.after(ref, 0)

    assert [e.direction for e in entries][:2] == ["in", "out"]
    assert (entries[0].text, entries[0].platform_message_id) == ("hi", "visitor-a:1")
    assert entries[1].text and "text" in entries[1].payload  # an outbound reply keeps what was sent
    assert [e.id for e in await core.transcripts.after(ref, entries[0].id)] == [e.id for e in entries[1:]]
    assert await core.transcripts.exists(ref)


async def test_a_stranger_has_no_transcript(core: Core) -> None:
    stranger = ChannelRef("web", "visitor-nobody")
    assert await core.transcripts.after(stranger, 0) == []
    assert not await core.transcripts.exists(stranger)
