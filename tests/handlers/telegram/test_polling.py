"""The Telegram adapter in long-polling mode, end to end: the whole app (build_app) against the Bot API stand-in
over real HTTP, on SQLite and PostgreSQL. Assertions are what the Telegram user sees and what the database holds."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from starlette.applications import Starlette

from bot.conversations.models import ConversationRun
from bot.customers import links
from bot.customers.models import ChannelIdentity
from bot.messages import ChannelRef, Inbound
from bot.surveys.models import SurveyResponse
from bot.tickets.models import Ticket
from handlers.server import build_app
from tests.conftest import FixedClock
from tests.handlers.telegram.harness import TgUser, core_of, customer_count, customer_of, running, tg_settings
from tests.support.botapi_standin import BotApiStandIn

WELCOME = "Hi Ana, welcome to"
USE_CASE = "So we can help you better, what will you mainly use us for?"
NPS_Q = "How likely are you to recommend"
CHECKINS_Q = (
    "Can I check in with you a few times over the next month to see how it's going? It's only a handful of short "
    'messages, and you can say "stop" whenever you like.'
)
STALE = "That question has already been answered."
SORRY_MEDIA = "Sorry, I can't read that kind of message here. Could you type it instead?"


def keyboard(record: dict) -> list[list[str]]:
    return [[b["text"] for b in row] for row in (record.get("reply_markup") or {}).get("inline_keyboard", [])]


# ---- 1. a whole conversation: onboarding, then an NPS survey by buttons and by typing --------------------------


async def test_onboarding_and_nps_by_buttons_and_typing(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        first = await ana.say("hi", 2)
        assert first[0].startswith(WELCOME) and first[1] == USE_CASE
        assert keyboard(ana.sends()[-1]) == [
            ["Just for me"],
            ["For my work"],
            ["For my team or company"],
            ["Just looking around"],
        ]  # choices stacked, one per row

        # Pressing a choice: the spinner stops, the question shows the answer and loses its keyboard.
        question_id, _ = ana.button("For my work")
        assert await ana.press("For my work", 1) == [CHECKINS_Q]
        assert keyboard(ana.sends()[-1]) == [["Yes", "No"]]  # a short scale: one row
        answer = api.calls("answerCallbackQuery")
        assert len(answer) == 1 and answer[0]["ok"] and answer[0]["text"] is None  # no notice: just the spinner off
        (edit,) = ana.calls("editMessageText")
        assert edit["message_id"] == question_id and edit["ok"]
        assert edit["text"] == f"{USE_CASE}\n\n» For my work"
        assert "reply_markup" not in edit["result"]  # the keyboard is gone

        # An NPS survey in the middle: 0-10 in two rows.
        nps = await ana.say("/nps", 2)
        assert nps[0] == "Let's leave my question for now."  # the open question is closed in words
        assert nps[1].startswith(NPS_Q)
        assert keyboard(ana.sends()[-1]) == [["0", "1", "2", "3", "4", "5"], ["6", "7", "8", "9", "10"]]
        assert await ana.press("9", 1) == ["Thank you, that means a lot! What do you like most about us?"]
        assert api.calls("editMessageText")[-1]["text"].endswith("\n\n» 9")
        thanks_and_back = [
            "Thank you for your feedback. It goes straight to the team.",
            f"Now, back to where we were:\n{CHECKINS_Q}",  # the interrupted onboarding question, asked again
        ]
        assert await ana.say("Fast and friendly", 2) == thanks_and_back

        # Typed answers work as well as buttons.
        assert (await ana.say("/nps", 2))[1].startswith(NPS_Q)
        assert await ana.say("7", 1) == ["Thanks! What's one thing we could do to make it a 10?"]
        assert await ana.say("Cheaper please", 2) == thanks_and_back

    core = core_of(app)
    async with core.db.sessions() as session:
        query = select(SurveyResponse.score, SurveyResponse.comment).order_by(SurveyResponse.id)
        scores = (await session.execute(query)).all()
    assert [tuple(s) for s in scores] == [(9, "Fast and friendly"), (7, "Cheaper please")]
    assert all(r["parse_mode"] is None for r in ana.sends())


async def test_a_first_message_complaint_is_taken_at_once_and_ends_in_a_ticket(
    polling_app: Starlette, api: BotApiStandIn
) -> None:
    app, ana = polling_app, TgUser(api, 43)
    async with running(app, api):
        first = await ana.say("I want to complain, my order hasn't arrived", 2)
        assert first[0] == (  # the welcome opens the answer's first message
            "Hi Ana, welcome to our service.\n\n"
            "I'm sorry something has gone wrong, Ana. Let's get it to the right person. It only takes a few questions."
        )
        assert first[1].startswith("What happened?")
        await ana.say("It was due on Monday", 1)
        await ana.press("Order & delivery", 1)
        await ana.press("Skip", 1)
        (final,) = await ana.say("quite a lot", 1)  # typed instead of pressed
        assert "Your reference is C-1001." in final
        assert not any(USE_CASE in text for text in ana.messages())

    core = core_of(app)
    async with core.db.sessions() as session:
        (ticket,) = (await session.execute(select(Ticket))).scalars()
    assert (ticket.kind, ticket.category, ticket.channel) == ("complaint", "delivery", "telegram")


# ---- 2. stale and repeated button presses ---------------------------------------------------------------------


async def runs_of(app: object, chat_id: int) -> list[tuple[str, str, int, bool, dict]]:
    core = core_of(app)  # type: ignore[arg-type]
    customer = await customer_of(core, chat_id)
    assert customer is not None
    async with core.db.sessions() as session:
        query = select(ConversationRun).where(ConversationRun.customer_id == customer.id).order_by(ConversationRun.id)
        rows = (await session.execute(query)).scalars()
        return [(r.flow_id, r.status, r.step_index, r.awaiting_answer, dict(r.answers or {})) for r in rows]


async def test_a_stale_or_repeated_press_is_answered_politely_and_changes_nothing(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        await ana.say("hi", 2)
        await ana.say("Just for me", 1)  # typed: the first question keeps its keyboard
        before = await runs_of(app, 42)
        sent_before = len(ana.sends())

        old_question, _ = ana.button("For my work")
        ana.push(ana.press_update("For my work"))  # an old button, already answered by typing
        answers = await api.wait_for_calls("answerCallbackQuery", 1)
        assert answers[-1]["text"] == STALE
        (removed,) = await api.wait_for_calls("editMessageReplyMarkup", 1)
        assert removed["message_id"] == old_question and removed["ok"]
        assert "reply_markup" not in removed["result"]  # the stale keyboard is gone
        assert not api.calls("editMessageText")  # the question is not rewritten with a wrong answer
        assert len(ana.sends()) == sent_before
        assert await runs_of(app, 42) == before

        # A double tap: two presses of the same button arrive together; the second one is stale.
        seen = len(ana.messages())
        ana.push(ana.press_update("Yes"))
        ana.push(ana.press_update("Yes"))
        await api.wait_for_calls("answerCallbackQuery", 3)
        await ana.quiet()
        after_tap = ana.messages()[seen:]
        assert after_tap[0].startswith("Last one, and it's optional: what email address")
        assert len(after_tap) == 2  # the email question, then the probe's reply: nothing for the second tap
        assert [c["text"] for c in api.calls("answerCallbackQuery")][1:] == [None, STALE]
        (run,) = [r for r in await runs_of(app, 42) if r[0] == "onboarding"]
        assert run[4] == {"use_case": "personal", "want_checkins": True}


# ---- 5. a duplicate update ------------------------------------------------------------------------------------


async def test_the_same_update_delivered_twice_is_answered_once(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        update = ana.say_update("hi")
        api.push_updates(update, update)
        await ana.quiet()
        delivered = [u["update_id"] for r in api.calls("getUpdates") for u in (r["result"] or [])]
        assert delivered.count(update["update_id"]) == 2  # the bot really got it twice
        assert len(ana.messages()) == 3  # welcome + question, once; then the probe's reply
        assert ana.messages()[0].startswith(WELCOME) and ana.messages()[1] == USE_CASE


async def test_an_update_nobody_can_read_is_skipped_and_the_rest_of_its_batch_answered(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        broken = ana.say_update("hi")
        broken["message"]["chat"] = "not a chat"  # python-telegram-bot cannot read it either
        api.push_updates(broken, ana.say_update("hi"))
        got = await ana.expect(0, 2)
        assert got[0].startswith(WELCOME) and got[1] == USE_CASE
        await ana.quiet()
        assert len(ana.messages()) == 3  # the broken update was confirmed, not fetched again and again


async def test_customers_fetched_in_one_batch_are_answered_at_once_each_in_order(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    ana, bo = TgUser(api, 42), TgUser(api, 43, "Bo")
    async with running(app, api):
        await ana.say("hi", 2)
        await bo.say("hi", 2)
        answered: list[str] = []
        api.listeners.append(lambda r: answered.append(str(r["chat_id"])) if r["method"] == "sendMessage" else None)
        api.delay_next("sendMessage", 1.0)  # the first reply of the batch is slow to send
        api.push_updates(ana.say_update("/nps"), ana.say_update("9"), bo.say_update("/nps"))
        # Each /nps first closes onboarding's open question in words, then asks.
        ana_got, bo_got = await ana.expect(2, 3), await bo.expect(2, 2)

    slow = str(api.calls("sendMessage")[-5]["chat_id"])  # the first of the five to reach the API
    assert answered[-5] != slow  # the other customer did not wait for it
    assert ana_got[1].startswith(NPS_Q) and bo_got[1].startswith(NPS_Q)
    assert ana_got[2] == "Thank you, that means a lot! What do you like most about us?"  # in order


# ---- 6. a restart in the middle of a flow, with updates arriving while the bot is down ------------------------


async def test_a_restart_continues_the_conversation_and_handles_pending_updates_once(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    settings = tg_settings(tmp_path, database_url, flows_dir, api)
    ana = TgUser(api, 42)
    first = build_app(settings, clock=clock, background=False)
    async with running(first, api):
        await ana.say("hi", 2)
        await ana.say("/nps", 2)  # onboarding's question closed in words, then the survey's
        assert await ana.press("3", 1) == [
            "I'm sorry we've disappointed you. What's the main thing we should do better?"
        ]
    seen = len(ana.messages())

    # The bot is down: the customer goes on writing.
    api.push_updates(ana.say_update("Too slow"), ana.say_update("no"))
    await asyncio.sleep(0.2)
    assert len(ana.messages()) == seen

    second = build_app(settings, clock=clock, background=False)
    async with running(second, api):
        got = await ana.expect(seen, 3)
        await ana.quiet()
    assert got == [
        "Would you like someone from our team to get in touch with you about this?",
        'Understood. Thank you for being honest with us, it really helps. If you change your mind, type "talk '
        'to a person" at any time.',
        f"Now, back to where we were:\n{USE_CASE}",
    ]
    assert len(ana.messages()) == seen + 4  # those three and the probe's reply: nothing twice
    core = core_of(second)
    async with core.db.sessions() as session:
        scores = (await session.execute(select(SurveyResponse.score, SurveyResponse.comment))).all()
    assert [tuple(s) for s in scores] == [(3, "Too slow")]


# ---- 7. the command menu ----------------------------------------------------------------------------------------


async def test_the_command_menu_lists_the_flows_commands_and_help_menu_stop(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    app = build_app(tg_settings(tmp_path, url, flows_dir, api), background=False)
    async with running(app, api):
        commands = {c["command"]: c["description"] for c in api.bot_commands()}
    assert commands == {
        "help": "What I can do",
        "menu": "Show the menu",
        "stop": "Stop messages from us",
        "start": "Welcome and first-month check-ins",
        "nps": "Give feedback",
        "complain": "Report a problem",
        "csat": "Rate your experience",
        "tips": "Tips & tricks",
    }
    assert [c["command"] for c in api.bot_commands()][:3] == ["help", "menu", "stop"]


# ---- 8. media -----------------------------------------------------------------------------------------------------


async def test_a_photo_during_complaint_intake_is_attached_to_the_ticket(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        await ana.say("hi", 2)
        intro = await ana.say("/complain", 3)  # onboarding's question closed in words, then the complaint's
        assert intro[2].startswith("What happened?")
        assert await ana.say("The parcel arrived crushed, order 1234", 1) == [
            "Thank you. Which of these is it mostly about?"
        ]
        photo_q = await ana.press("Product quality", 1)
        assert photo_q[0].startswith("If you have a photo or screenshot")
        assert keyboard(ana.sends()[-1]) == [["Skip"]]
        seen = len(ana.messages())
        ana.push(api.photo_update(42, "photo-crushed-box"))
        assert await ana.expect(seen, 1) == ["How much is this affecting you?"]
        done = await ana.press("A lot, it's urgent", 1)
        assert done[0].startswith("Thank you for telling us. Your reference is C-")
    core = core_of(app)
    async with core.db.sessions() as session:
        (ticket,) = (await session.execute(select(Ticket))).scalars()
    assert ticket.attachments == [{"kind": "photo", "ref": "photo-crushed-box"}]  # the largest size's file id
    assert ticket.severity == "high" and ticket.category == "product" and ticket.channel == "telegram"


def voice_update(api: BotApiStandIn, chat_id: int) -> dict:
    update = api.text_update(chat_id, "placeholder")
    del update["message"]["text"]
    update["message"]["voice"] = {"file_id": "voice-1", "file_unique_id": "v1", "duration": 3}
    return update


async def test_stickers_voice_and_locations_get_a_polite_reply_and_edits_are_ignored(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        await ana.say("hi", 2)
        for update in (api.sticker_update(42), voice_update(api, 42), api.location_update(42)):
            seen = len(ana.messages())
            ana.push(update)
            # Polite, and the pending question is asked again so the customer knows what to do.
            assert await ana.expect(seen, 2) == [SORRY_MEDIA, USE_CASE]
        assert await runs_of(app, 42) == [("onboarding", "active", 2, True, {})]

        # Documented choice: an edited message is not processed again (the conversation has moved on).
        hi_id = api.calls("getUpdates")[0]["result"][0]["message"]["message_id"]
        seen = len(ana.messages())
        ana.push(api.edited_text_update(42, hi_id, "/nps"))
        await ana.quiet()
        assert len(ana.messages()) == seen + 1  # only the probe's reply
        assert await runs_of(app, 42) == [("onboarding", "active", 2, True, {})]


# ---- 9. groups ------------------------------------------------------------------------------------------------------

GOODBYE = "Hi! I only chat one-to-one. Please message me directly. Bye for now!"


def bot_added_to_group(api: BotApiStandIn, chat_id: int, status: str) -> dict:
    """A my_chat_member update: the bot's membership in a group changed to `status`."""
    me = {"id": 123456, "is_bot": True, "first_name": "EngageBot", "username": api.bot_username}
    member = {"status": status, "user": me}
    return {
        "my_chat_member": {
            "chat": {"id": chat_id, "type": "group", "title": "Friends"},
            "from": {"id": 7, "is_bot": False, "first_name": "Ana"},
            "date": 1_700_000_000,
            "old_chat_member": {"status": "left" if status == "member" else "member", "user": me},
            "new_chat_member": member,
        }
    }


async def test_in_a_group_the_bot_says_goodbye_and_leaves(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    async with running(app, api):
        api.push_update(api.group_text_update(-1001, "hi everyone"))
        await api.wait_for(lambda: api.left_chats)
        assert api.messages_to(-1001) == [GOODBYE]
        assert api.left_chats == [-1001]

        # Added to another group: goodbye and leave; being removed (after leaving) is not answered.
        api.push_update(bot_added_to_group(api, -1002, "member"))
        await api.wait_for(lambda: len(api.left_chats) == 2)
        assert api.messages_to(-1002) == [GOODBYE]
        api.push_update(bot_added_to_group(api, -1002, "left"))
        ana = TgUser(api, 42)
        await ana.say("hi", 2)
        await ana.quiet()
        assert api.messages_to(-1002) == [GOODBYE] and api.left_chats == [-1001, -1002]
        assert not [r for r in api.sent if r["chat_id"] == -1002 and not r["ok"]]  # nothing tried and refused
        assert await customer_of(core_of(app), -1001) is None


async def test_a_group_goodbye_that_cannot_be_posted_still_leaves(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    app = build_app(tg_settings(tmp_path, url, flows_dir, api), background=False)
    async with running(app, api):
        api.fail_next("sendMessage", 400, description="Bad Request: not enough rights to send text messages")
        api.push_update(api.group_text_update(-1003, "hi"))
        await api.wait_for(lambda: api.calls("sendMessage"))
        ana = TgUser(api, 42)
        await ana.say("hi", 2)
        await ana.quiet()
    assert api.left_chats == [-1003]


async def test_groups_are_served_when_allowed(tmp_path: Path, flows_dir: Path, api: BotApiStandIn) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    app = build_app(tg_settings(tmp_path, url, flows_dir, api, telegram={"allow_groups": True}), background=False)
    async with running(app, api):
        api.push_update(api.group_text_update(-1001, "hi"))
        got = await api.wait_for_messages(-1001, 2)
        assert got[0].startswith(WELCOME) and got[1] == USE_CASE
        assert api.left_chats == []


# ---- 10. deep links: /start <code> joins a customer we already know ------------------------------------------------


async def test_a_deep_link_code_joins_the_telegram_chat_to_a_known_customer(
    tmp_path: Path, database_url: str, flows_dir: Path, api: BotApiStandIn, clock: FixedClock
) -> None:
    app = build_app(tg_settings(tmp_path, database_url, flows_dir, api), clock=clock, background=False)
    core = core_of(app)
    async with running(app, api):
        await core.engine.handle(Inbound("web", "visitor-0123456789", text="hi", display_name="Bea"))
        async with core.db.transaction() as session:
            from bot.customers.records import find_by_identity

            known = await find_by_identity(session, ChannelRef("web", "visitor-0123456789"))
            assert known is not None
            known_id = known.id
            good = await links.issue(session, known_id, clock.now(), timedelta(hours=1))
            expired = await links.issue(session, known_id, clock.now() - timedelta(hours=2), timedelta(hours=1))

        bea = TgUser(api, 77, "Bea")
        got = await bea.say(f"/start {good}", 2)
        assert got[0].startswith("Hi Bea, welcome to") and got[1] == USE_CASE
        joined = await customer_of(core, 77)
        assert joined is not None and joined.id == known_id
        async with core.db.sessions() as session:
            query = select(ChannelIdentity.channel, ChannelIdentity.address).where(
                ChannelIdentity.customer_id == known_id
            )
            identities = (await session.execute(query)).all()
        assert sorted(tuple(i) for i in identities) == [("telegram", "77"), ("web", "visitor-0123456789")]

        # A used, an expired and an unknown code: a new customer each, welcomed like anyone new.
        for chat_id, code in ((78, good), (79, expired), (80, "no-such-code")):
            other = TgUser(api, chat_id, "Cid")
            got = await other.say(f"/start {code}", 2)
            assert got[0].startswith("Hi Cid, welcome to") and got[1] == USE_CASE
            customer = await customer_of(core, chat_id)
            assert customer is not None and customer.id != known_id
            await other.quiet()
            assert len(other.messages()) == 3  # the welcome once (the /start did not start it twice)
        assert await customer_count(core) == 4


# ---- 11. long texts and formatting characters ------------------------------------------------------------------------

PARAGRAPH = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20  # 1140 characters
LONG = "\n\n".join(PARAGRAPH.strip() for _ in range(5))  # ~5700 characters, five paragraphs
MARKUP = "Prices: <b>2 * 3</b> = 6_000 [not a link](x) & *stars* _under_ `tick` <br> \\o/"


async def test_long_texts_are_split_and_formatting_characters_arrive_unchanged(
    tmp_path: Path, flows_dir: Path, api: BotApiStandIn
) -> None:
    flow = {
        "version": 1, "flow": "longread", "title": "A long read", "triggers": [{"command": "/long"}],
        "steps": [{"say": LONG}, {"end": MARKUP}],
    }  # fmt: skip
    (flows_dir / "longread.yaml").write_text(json.dumps(flow), encoding="utf-8")
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    app = build_app(tg_settings(tmp_path, url, flows_dir, api), background=False)
    ana = TgUser(api, 42)
    async with running(app, api):
        await ana.say("hi", 2)
        # onboarding's question closed in words, two pieces, the end text, and that question again
        got = (await ana.say("/long", 5))[1:]
        await ana.quiet()
    assert len(LONG) > 4096
    pieces, markup = got[:2], got[2]
    assert got[3] == f"Now, back to where we were:\n{USE_CASE}"
    assert all(len(p) <= 4096 for p in pieces)
    assert "\n\n".join(pieces) == LONG  # cut at a paragraph break, nothing lost
    assert markup == MARKUP
    assert all(r["parse_mode"] is None for r in ana.sends())
    assert len(ana.messages()) == 2 + 5 + 1
