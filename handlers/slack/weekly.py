"""The weekly digest of the reports in Slack (bot/reports/digest.py): one post to the configured channel, its figures
in Block Kit, posted through the desk's chat.postMessage (its errors become DeliveryErrors the outbox retries)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.reports.digest import Figure, WeeklyDigest
from handlers.slack.blocks import JSON, context, plain, section
from handlers.slack.desk import SlackDesk
from handlers.slack.mrkdwn import escape, truncate


class SlackReportsDesk:
    """The ReportsDesk port on Slack."""

    def __init__(self, desk: SlackDesk):
        self.desk = desk

    async def post_digest(self, channel: str, digest: WeeklyDigest) -> None:
        text, blocks = weekly_message(digest)
        await self.desk.post(channel, text, blocks)


def weekly_message(d: WeeklyDigest) -> tuple[str, list[JSON]]:
    """(fallback text, blocks): every figure of the digest, and the link to the console's reports."""
    week = f"{d.since:%d %b} – {d.until:%d %b %Y}"
    lines = [
        f"*NPS* {_score(d.nps)} ({d.nps_responses} answers){_change(d)}",
        f"*CSAT* {_pct(d.csat)} ({d.csat_responses} answers)" + (
            "\n" + _figures(d.csat_per_person, "answers") if d.csat_per_person else ""),
        f"*SLA* {d.sla_breaches} ticket{'s' if d.sla_breaches != 1 else ''} missed a deadline; first response in time "
        f"{_pct(d.first_response_pct)}, resolution in time {_pct(d.resolution_pct)}"
        + ("\n" + "\n".join(f"• {escape(ref)}" for ref in d.breaches) if d.breaches else ""),
        f"*Complaints* {d.complaints}" + ("\n" + _figures(d.top_categories, "tickets") if d.top_categories else ""),
        f"*Cancellations* {d.cancellations}"
        + ("\n" + _figures(d.churn_reasons, "cancellations") if d.churn_reasons else ""),
    ]  # fmt: skip
    blocks: list[JSON] = [{"type": "header", "text": plain(f"Weekly report: {week}")}]
    blocks += [section(truncate(line, 3000)) for line in lines]
    blocks.append(context(f"<{d.console_url}|Open the reports in the console> · every figure is defined in "
                          "docs/reports.md"))  # fmt: skip
    text = f"Weekly report {week}: NPS {_score(d.nps)}{_change(d)}, CSAT {_pct(d.csat)}, {d.sla_breaches} SLA breaches"
    return text, blocks


def _figures(figures: Sequence[Figure], unit: str) -> str:
    return "\n".join(f"• {escape(f.label)}: {_pct(f.value)} ({f.count} {unit})" for f in figures)


def _score(value: float | None) -> str:
    return "–" if value is None else f"{value:+g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:g}%"


def _change(d: WeeklyDigest) -> str:
    change = d.nps_change
    return "" if change is None else f", {change:+g} on the week before"
