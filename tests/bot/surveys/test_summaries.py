"""Survey summaries count each customer's voice once: answering the NPS again and again moves nothing."""

from __future__ import annotations

from bot.core import Core
from tests.conftest import Chat, FixedClock


async def answer_nps(chat: Chat, clock: FixedClock, score: str) -> None:
    await chat.say("/nps")
    await chat.say(score)
    await chat.say("skip")  # the optional "why?"
    clock.advance(minutes=5)


async def test_one_customer_answering_the_nps_many_times_counts_once_with_their_latest_score(
    core: Core, clock: FixedClock
) -> None:
    stuffer, fan = Chat(core, address="stuffer-visitor-1"), Chat(core, address="fan-visitor-1")
    for score in ("0", "0", "0", "0", "10"):
        await answer_nps(stuffer, clock, score)
    await answer_nps(fan, clock, "9")

    (nps,) = [s for s in await core.surveys.summaries() if s.kind == "nps"]
    # Two customers, both promoters in their latest answers: the four zeros before do not count.
    assert (nps.responses, nps.score) == (2, 100.0)

    for score in ("0", "0"):
        await answer_nps(stuffer, clock, score)
    (nps,) = [s for s in await core.surveys.summaries() if s.kind == "nps"]
    assert (nps.responses, nps.score) == (2, 0.0)  # one promoter, one detractor
