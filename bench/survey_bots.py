"""The inbound benchmark's baselines, written the usual python-telegram-bot way, each run as its own process:

- `echo`: a bare echo bot (one MessageHandler, no state);
- `survey`: the benchmark's 5-question survey as a ConversationHandler with PicklePersistence, after PTB's
  examples/conversationbot.py (answers in user_data, each state a validating MessageHandler).

Polling is `run_polling`; webhook is PTB's examples/customwebhookbot/starlettebot.py (uvicorn + Starlette, the
update put on the application's queue), the same web stack engagebot uses, so only the bot logic differs.

    python -m bench.survey_bots survey --mode webhook --api http://127.0.0.1:PORT/bot --port 8123 --data DIR
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import logging
import re
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CommandHandler,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

BOT_TOKEN = "123456:BENCH-TOKEN"
WEBHOOK_SECRET = "bench-secret"
WEBHOOK_PATH = "/telegram/webhook"

# The questions, shared with engagebot's flow in bench_inbound so both bots say the same.
RATING_Q = "How would you rate us, from 1 (poor) to 5 (excellent)?"
CHANNEL_Q = "Where did you hear about us?"
CHANNELS = ("A friend", "Online", "Somewhere else")
RECOMMEND_Q = "Would you recommend us to a friend?"
VISITS_Q = "How many times did you visit us this year?"
COMMENT_Q = "Anything else you would like to tell us?"
THANKS = "Thank you for your answers!"

RATING, CHANNEL, RECOMMEND, VISITS, COMMENT = range(5)


async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text(update.message.text or "")


async def start(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None
    keyboard = ReplyKeyboardMarkup([["1", "2", "3", "4", "5"]], one_time_keyboard=True)
    await update.message.reply_text(RATING_Q, reply_markup=keyboard)
    return RATING


async def rating(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and update.message.text is not None and context.user_data is not None
    context.user_data["rating"] = int(update.message.text)
    keyboard = ReplyKeyboardMarkup([[c] for c in CHANNELS], one_time_keyboard=True)
    await update.message.reply_text(CHANNEL_Q, reply_markup=keyboard)
    return CHANNEL


async def channel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and context.user_data is not None
    context.user_data["channel"] = update.message.text
    keyboard = ReplyKeyboardMarkup([["Yes", "No"]], one_time_keyboard=True)
    await update.message.reply_text(RECOMMEND_Q, reply_markup=keyboard)
    return RECOMMEND


async def recommend(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and update.message.text is not None and context.user_data is not None
    context.user_data["recommend"] = update.message.text.lower() == "yes"
    await update.message.reply_text(VISITS_Q, reply_markup=ReplyKeyboardRemove())
    return VISITS


async def visits(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and update.message.text is not None and context.user_data is not None
    context.user_data["visits"] = int(update.message.text)
    await update.message.reply_text(COMMENT_Q)
    return COMMENT


async def comment(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    assert update.message is not None and context.user_data is not None
    context.user_data["comment"] = update.message.text
    await update.message.reply_text(THANKS)
    return ConversationHandler.END


async def not_understood(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text("Sorry, I did not understand that. Please answer the question above.")


def survey_handler() -> ConversationHandler[Any]:
    channels = "|".join(re.escape(c) for c in CHANNELS)
    return ConversationHandler(
        entry_points=[CommandHandler("survey", start)],
        states={
            RATING: [MessageHandler(filters.Regex(r"^[1-5]$"), rating)],
            CHANNEL: [MessageHandler(filters.Regex(rf"^({channels})$"), channel)],
            RECOMMEND: [MessageHandler(filters.Regex(r"(?i)^(yes|no)$"), recommend)],
            VISITS: [MessageHandler(filters.Regex(r"^\d{1,6}$"), visits)],
            COMMENT: [MessageHandler(filters.TEXT & ~filters.COMMAND, comment)],
        },
        fallbacks=[MessageHandler(filters.TEXT, not_understood)],
        name="survey",
        persistent=True,
    )


def build(kind: str, api_url: str, data: Path, webhook: bool) -> Application[Any, Any, Any, Any, Any, Any]:
    builder = ApplicationBuilder().token(BOT_TOKEN).base_url(api_url)
    if webhook:
        builder = builder.updater(None)
    if kind == "survey":
        builder = builder.persistence(PicklePersistence(data / "survey.pickle"))
    application = builder.build()
    if kind == "echo":
        application.add_handler(MessageHandler(filters.TEXT, echo))
    else:
        application.add_handler(survey_handler())
    return application


async def serve_webhook(application: Application[Any, Any, Any, Any, Any, Any], port: int) -> None:
    """PTB's starlettebot example, plus the secret check its webhook server does."""

    async def telegram(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given, WEBHOOK_SECRET):
            return Response(status_code=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return Response()

    app = Starlette(routes=[Route(WEBHOOK_PATH, telegram, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    async with application:
        await application.bot.set_webhook(f"http://127.0.0.1:{port}{WEBHOOK_PATH}", secret_token=WEBHOOK_SECRET)
        await application.start()
        await server.serve()  # until SIGTERM
        await application.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("echo", "survey"))
    parser.add_argument("--mode", choices=("polling", "webhook"), default="polling")
    parser.add_argument("--api", required=True, help="the Bot API base URL (python-telegram-bot's base_url)")
    parser.add_argument("--port", type=int, default=8123, help="webhook mode: where to listen")
    parser.add_argument("--data", type=Path, default=Path("."), help="where PicklePersistence writes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    application = build(args.kind, args.api, args.data, args.mode == "webhook")
    if args.mode == "webhook":
        asyncio.run(serve_webhook(application, args.port))
    else:
        application.run_polling(poll_interval=0.0, timeout=10, allowed_updates=Update.ALL_TYPES)


if __name__ == "__main__":
    main()
