"""The staff slash command (`/engage` by default): `mine`, `ticket C-1042`, help. Answers only the caller."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.core import Core
from handlers.slack.blocks import help_text, mine_text, ticket_summary
from handlers.slack.mrkdwn import escape
from handlers.slack.staff import member, refusal


def parse(text: str) -> tuple[str, str]:
    """(`mine` | `ticket` | `help`, the argument): `/engage ticket c-1042` -> ("ticket", "C-1042")."""
    words = (text or "").split()
    verb = words[0].lower() if words else "help"
    if verb == "mine":
        return "mine", ""
    if verb == "ticket" and len(words) > 1:
        return "ticket", words[1].upper()
    return "help", ""


def register(app: AsyncApp, core: Core) -> None:
    settings = core.settings
    name = settings.slack.command

    @app.command(name)
    async def engage(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user = command["user_id"]
        verb, argument = parse(command.get("text", ""))
        staff = member(settings, user)
        if verb == "help":
            text = help_text(name)
        elif staff is None:
            text = refusal(user)
        elif verb == "mine":
            text = mine_text(await core.ticket_queries.assigned_views(staff.key))
        else:
            view = await core.ticket_queries.view(argument)
            text = ticket_summary(view) if view else f"There is no ticket {escape(argument)}."
        await respond(text=text, response_type="ephemeral")
