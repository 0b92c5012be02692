"""The outbox kind the campaigns feature owns, and its handler."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from bot.outbox import Claimed, Handler

if TYPE_CHECKING:
    from bot.conversations.engine import ConversationEngine


class CampaignKind(StrEnum):
    # One customer's message of one campaign occurrence (payload: campaign).
    CAMPAIGN = "campaign"


def outbox_handlers(engine: ConversationEngine) -> dict[str, Handler]:
    """The handler of the campaign kind, registered with the dispatcher (bot/core.py)."""

    async def start_campaign_flow(item: Claimed) -> bool:
        # A campaign that starts a flow (a message campaign became a plain send when cleared).
        assert item.customer_id is not None
        return await engine.start_flow_for(
            item.customer_id, item.payload["flow"], {"campaign": item.payload["campaign"]}
        )

    return {CampaignKind.CAMPAIGN: Handler(start_campaign_flow, needs_customer=True)}
