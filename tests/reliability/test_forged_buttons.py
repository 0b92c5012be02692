"""Forged button payloads posted to a real `engagebot run` web chat, on SQLite and PostgreSQL.

Each choice (ids past 32 and 64 bits, negative or not digits, another customer's run, a question not asked, an option
out of range, the internal ticket follow-up, unknown words) gets the polite stale-button notice or a clear 4xx, never
a 500; the process logs one line for it and no traceback; and nothing moves: the customer's own button still answers
their question afterwards, and no ticket score is recorded.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.conversations import buttons
from bot.conversations import schema as s
from bot.conversations.loader import parse_flow_file
from bot.conversations.models import ConversationRun
from bot.storage.database import Database
from tests.reliability.harness import STARTER_FLOWS, EngagebotProcess, processes, survey_answers, write_config

STALE = "That question has already been answered."
NEXT_QUESTION = "Can I check in with you"  # onboarding's question after the one the forged buttons aim at


@dataclass(frozen=True)
class Asked:
    """The onboarding question a visitor has open: their real button, and a later question of the same flow."""

    button: buttons.AnswerButton
    later_step: int


# (case, the forged choice made from the visitor's own open question and another visitor's)
FORGED: list[tuple[str, Callable[[Asked, Asked], str]]] = [
    ("a run id past 64 bits, as in the finding", lambda mine, theirs: "a:9223372036854775808:0:0"),
    ("a run id past 32 bits, as in the finding", lambda mine, theirs: "a:2147483648:0:0"),
    ("a step past 32 bits", lambda mine, theirs: f"a:{mine.button.run_id}:2147483648:0"),
    ("a negative run id", lambda mine, theirs: f"a:-{mine.button.run_id}:{mine.button.step_index}:0"),
    ("not digits", lambda mine, theirs: f"a:{mine.button.run_id}:{mine.button.step_index}:²"),
    ("another customer's run", lambda mine, theirs: theirs.button.value),
    ("a question not asked", lambda mine, theirs: f"a:{mine.button.run_id}:{mine.later_step}:0"),
    ("an option out of range", lambda mine, theirs: f"a:{mine.button.run_id}:{mine.button.step_index}:4"),
    ("the internal ticket follow-up", lambda mine, theirs: "f:ticket_followup"),
    ("an unknown word", lambda mine, theirs: "g:stop"),
    ("garbage", lambda mine, theirs: "x" * 200),
]


@pytest.fixture
async def bot(tmp_path: Path, database_url: str) -> AsyncIterator[EngagebotProcess]:
    process = EngagebotProcess(write_config(tmp_path), database_url, tmp_path / "bot.log")
    with processes(process):
        await process.wait_healthy()
        yield process


class Visitor:
    """A web chat visitor: posts text or a choice as the page does."""

    def __init__(self, http: httpx.AsyncClient):
        self.http = http
        self.id = secrets.token_urlsafe(18)  # 24 characters of the visitor id alphabet

    async def post(self, *, text: str | None = None, choice: str | None = None) -> httpx.Response:
        body = {"visitor": self.id, **({"text": text} if text is not None else {"choice": choice})}
        return await self.http.post("/chat/api/messages", json=body)

    async def start(self) -> Asked:
        """Say hello: onboarding asks what they use us for, with answer buttons."""
        answer = await self.post(text="hi")
        assert answer.status_code == 200, answer.text
        values = [b["value"] for r in answer.json()["replies"] for b in r.get("buttons", [])]
        pressed = buttons.parse(next(v for v in values if v.startswith("a:")))
        assert isinstance(pressed, buttons.AnswerButton)
        steps = parse_flow_file(STARTER_FLOWS / "onboarding.yaml").flow.steps
        later = next(i for i, step in enumerate(steps) if isinstance(step, s.AskStep) and i > pressed.step_index)
        return Asked(pressed, later)


def replies_text(answer: httpx.Response) -> str:
    return "\n".join(r["text"] for r in answer.json()["replies"])


async def test_forged_button_payloads_get_a_polite_answer_one_log_line_and_change_nothing(
    bot: EngagebotProcess, database_url: str
) -> None:
    async with httpx.AsyncClient(base_url=bot.url, timeout=30) as http:
        other = Visitor(http)
        theirs = await other.start()
        for case, make in FORGED:
            visitor = Visitor(http)  # a visitor per case, well within the web chat's limits per visitor
            mine = await visitor.start()
            choice = make(mine, theirs)
            logged = len(bot.log.read_bytes())

            answer = await visitor.post(choice=choice)

            assert answer.status_code < 500, (case, answer.text, bot.tail())
            new_lines = bot.log.read_bytes()[logged:].decode(errors="replace").splitlines()
            ignored = [line for line in new_lines if "button ignored" in line]
            if answer.status_code == 200:
                assert replies_text(answer) == STALE, (case, answer.text)
                assert len(ignored) == 1 and "WARNING" in ignored[0], (case, new_lines)
            else:  # refused before the engine (a limit of the web chat): a clear 4xx, nothing more
                assert 400 <= answer.status_code < 500 and answer.json().get("error"), (case, answer.text)
                assert len(ignored) <= 1, (case, new_lines)
            assert not [line for line in new_lines if "Traceback" in line or " ERROR " in line], (case, new_lines)

            # Nothing moved: the visitor's real button still answers their open question.
            answer = await visitor.post(choice=mine.button.value)
            assert answer.status_code == 200 and NEXT_QUESTION in replies_text(answer), (case, answer.text)

        answer = await other.post(choice=theirs.button.value)
        assert answer.status_code == 200 and NEXT_QUESTION in replies_text(answer), answer.text

    assert bot.alive()
    log = bot.log.read_text(errors="replace")
    assert "Traceback" not in log and " ERROR " not in log, bot.tail()
    db = Database(database_url)
    try:
        assert await survey_answers(db) == []  # no ticket CSAT without a ticket
        async with db.sessions() as session:
            followups = select(func.count()).where(ConversationRun.flow_id == "ticket_followup")
            assert (await session.execute(followups)).scalar_one() == 0
    finally:
        await db.dispose()
