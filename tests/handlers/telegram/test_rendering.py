"""How replies look on Telegram beyond plain questions: a flow's picture, blank texts, answers shown under long
questions, long stale-press notices, and a captioned photo sent as a media answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.tickets.models import Ticket
from handlers.server import build_app
from tests.handlers.telegram.harness import TgUser, core_of, customer_of, running, tg_settings
from tests.support.botapi_standin import BotApiStandIn

PICTURE = "https://cdn.example.com/welcome.jpg"


def add_flow(flows_dir: Path, flow_id: str, command: str, steps: list[dict[str, Any]]) -> None:
    flow = {"version": 1, "flow": flow_id, "title": flow_id.title(), "triggers": [{"command": command}], "steps": steps}
    (flows_dir / f"{flow_id}.yaml").write_text(json.dumps(flow), encoding="utf-8")  # JSON is YAML


def sqlite(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"


async def started(ana: TgUser) -> None:
    await ana.say("hi", 2)


async def test_a_flow_picture_is_sent_as_a_photo_with_its_text_as_caption(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn
) -> None:
    long_text = "A long caption. " * 80  # 1280 characters: too long for a caption
    add_flow(flows_dir, "pictures", "/pics", [
        {"say": "A broken picture", "media": "https://cdn.example.com/missing.jpg"},
        {"say": "Our new shop!", "media": PICTURE, "buttons": [{"label": "Tips & tricks", "flow": "value_tips"}]},
        {"say": long_text.strip(), "media": PICTURE},
        {"end": "That's all."},
    ])  # fmt: skip
    app = build_app(tg_settings(tmp_path, sqlite(tmp_path), flows_dir, api), background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        await started(ana)
        # Telegram cannot fetch the first picture: the text must still arrive, and the customer stays reachable.
        api.fail_next("sendPhoto", 400, description="Bad Request: wrong file identifier/HTTP URL specified")
        got = (await ana.say("/pics", 5))[1:]  # after onboarding's question is closed in words
    photos = [r for r in api.calls("sendPhoto") if r["ok"]]
    assert [(p["photo"], p.get("caption")) for p in photos] == [(PICTURE, "Our new shop!"), (PICTURE, None)]
    tips = {"text": "Tips & tricks", "callback_data": "f:value_tips"}
    assert photos[0]["reply_markup"]["inline_keyboard"] == [[tips]]  # the keyboard goes under the photo
    assert [r["status"] for r in api.calls("sendPhoto")] == [400, 200, 200]
    assert got[:3] == ["A broken picture", long_text.strip(), "That's all."]
    customer = await customer_of(core_of(app), 42)
    assert customer is not None and not customer.unreachable


async def test_a_blank_text_is_not_sent_and_does_not_cost_the_rest(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn
) -> None:
    add_flow(flows_dir, "blank", "/blank", [
        {"say": "{{ customer.attributes.nickname or '' }}"},  # renders to nothing for this customer
        {"say": "{{ customer.attributes.nickname or '' }}", "buttons": [{"label": "Tips", "flow": "value_tips"}]},
        {"end": "Still here."},
    ])  # fmt: skip
    app = build_app(tg_settings(tmp_path, sqlite(tmp_path), flows_dir, api), background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        await started(ana)
        got = (await ana.say("/blank", 4))[1:]  # after onboarding's question is closed in words
    assert got[:2] == ["…", "Still here."]  # a keyboard needs some text above it; a blank text alone is left out
    assert ana.sends()[-3]["reply_markup"]["inline_keyboard"] == [[{"text": "Tips", "callback_data": "f:value_tips"}]]
    assert not [r for r in ana.calls("sendMessage") if not r["ok"]]  # no refused blank message
    customer = await customer_of(core_of(app), 42)
    assert customer is not None and not customer.unreachable


async def test_an_answer_too_long_to_show_under_its_question_still_removes_the_keyboard(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn
) -> None:
    add_flow(flows_dir, "longq", "/longq", [
        {"id": "pick", "ask": "Please read carefully. " * 178, "expect": "choice",
         "choices": [{"label": "I have read it all", "value": "read"}, {"label": "Skip it", "value": "skip"}]},
        {"end": "Thanks."},
    ])  # fmt: skip
    app = build_app(tg_settings(tmp_path, sqlite(tmp_path), flows_dir, api), background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        await started(ana)
        _closed, question = await ana.say("/longq", 2)  # onboarding's question closed in words, then this one
        assert 4096 - 20 < len(question) <= 4096
        question_id, _ = ana.button("I have read it all")
        got = await ana.press("I have read it all", 2)
        assert got[0] == "Thanks."
        removed = await api.wait_for_calls("editMessageReplyMarkup", 1)
    assert [r["message_id"] for r in removed if r["ok"]] == [question_id]  # the keyboard is gone all the same


async def test_a_long_stale_press_notice_is_shortened_to_what_telegram_accepts(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn
) -> None:
    notice = "That question has already been answered. " * 6  # 246 characters; Telegram takes 200
    settings = tg_settings(tmp_path, sqlite(tmp_path), flows_dir, api, texts={"stale_button": notice})
    app = build_app(settings, background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        await started(ana)
        await ana.say("Just for me", 1)
        ana.push(ana.press_update("For my work"))
        answers = await api.wait_for_calls("answerCallbackQuery", 1)
    assert answers[0]["ok"] and answers[0]["text"] == notice[:200]


async def test_a_photo_with_a_caption_answers_a_photo_question(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn
) -> None:
    app = build_app(tg_settings(tmp_path, sqlite(tmp_path), flows_dir, api), background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        await started(ana)
        # Three messages: onboarding's question left in words, then the complaint's two. Waiting for two let the
        # third arrive after the next count began, which then took it for the answer to the description.
        assert (await ana.say("/complain", 3))[0] == "Let's leave my question for now."
        assert await ana.say("The parcel arrived crushed", 1) == ["Thank you. Which of these is it mostly about?"]
        await ana.press("Product quality", 1)
        seen = len(ana.messages())
        ana.push(api.photo_update(42, "photo-with-caption", caption="see the corner"))
        assert await ana.expect(seen, 1) == ["How much is this affecting you?"]
        await ana.press("Quite a lot", 1)
    async with core_of(app).db.sessions() as session:
        (ticket,) = (await session.execute(select(Ticket))).scalars()
    assert ticket.attachments == [{"kind": "photo", "ref": "photo-with-caption"}]
