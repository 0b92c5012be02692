"""The campaign form: a campaign's settings as form values and back, with the problems of what cannot be read at
all (a schedule line without a tier, a button without its flow) under their fields. Everything else is checked by
the core (bot/admin/campaigns.py) with the config loader's checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from bot.config import Campaign

KINDS = ["tip", "preview", "report", "offer", "thank_you", "win_back", "news", "survey", "other"]
ARROW = "->"


@dataclass
class CampaignForm:
    """What the form shows: the values as typed, and the problems by field name."""

    values: dict[str, Any]
    problems: dict[str, str] = field(default_factory=dict)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def form_of(campaign: Campaign) -> CampaignForm:
    audience = campaign.audience
    return CampaignForm(
        {
            "title": campaign.title,
            "kind": campaign.kind,
            "enabled": campaign.enabled,
            "audience.tiers": list(audience.tiers),
            "audience.tags": ", ".join(audience.tags),
            "audience.when": audience.when or "",
            "audience.inactive_days": _number(audience.inactive_days),
            "schedule": "\n".join(f"{tier}: {line}" for tier, line in campaign.schedule.items()),
            "at": campaign.at.isoformat() if campaign.at else "",
            "content": "flow" if campaign.flow else "message",
            "message": campaign.message or "",
            "buttons": "\n".join(f"{b.label} {ARROW} {b.flow}" for b in campaign.buttons),
            "flow": campaign.flow or "",
            "reward": campaign.reward or "",
            "expire_after_hours": _number(campaign.expire_after_hours),
            "repeat_after_days": _number(campaign.repeat_after_days),
        }
    )


def blank() -> CampaignForm:
    return form_of(Campaign(message="Hi {{ customer.first_name }}! ", kind="tip", enabled=False))


def read(form: FormData) -> tuple[CampaignForm, dict[str, Any]]:
    """The values as typed (to show again) and the data to check as a campaign; problems of lines that cannot be
    read are in the form already."""
    text = {key: str(form.get(key, "")).strip() for key in form_of(Campaign(message="")).values}
    values: dict[str, Any] = {**text, "enabled": form.get("enabled") == "on",
                              "audience.tiers": [str(t) for t in form.getlist("audience.tiers")]}  # fmt: skip
    values["message"] = str(form.get("message", ""))  # its spacing is the customer's to read
    shown = CampaignForm(values)
    schedule = _schedule(text["schedule"], shown.problems)
    buttons = _buttons(text["buttons"], shown.problems)
    message = values["content"] != "flow"
    audience: dict[str, Any] = {
        "tiers": values["audience.tiers"],
        "tags": [tag.strip() for tag in text["audience.tags"].split(",") if tag.strip()],
        "when": text["audience.when"] or None,
        "inactive_days": text["audience.inactive_days"] or None,
    }
    data = {
        "title": text["title"],
        "kind": text["kind"] or "other",
        "enabled": values["enabled"],
        "audience": audience,
        "schedule": schedule,
        "at": text["at"] or None,
        "message": values["message"] if message else None,
        "buttons": buttons if message else [],
        "flow": None if message else (text["flow"] or None),
        "reward": text["reward"] or None,  # with a flow it is refused, next to the field: the flow gives its own
        "expire_after_hours": text["expire_after_hours"] or None,
        "repeat_after_days": text["repeat_after_days"] or None,
    }
    if not message and not text["flow"]:
        shown.problems["flow"] = "choose the flow the campaign starts"
    return shown, data


def _schedule(lines: str, problems: dict[str, str]) -> dict[str, str]:
    schedule: dict[str, str] = {}
    for line in filter(None, (raw.strip() for raw in lines.splitlines())):
        tier, colon, cron = line.partition(":")
        if not colon or not tier.strip() or not cron.strip():
            problems["schedule"] = f'"{line}": write each line as TIER: CRON, e.g. "*: 0 10 * * 1" (every tier)'
            continue
        schedule[tier.strip()] = cron.strip()
    return schedule


def _buttons(lines: str, problems: dict[str, str]) -> list[dict[str, str]]:
    buttons = []
    for line in filter(None, (raw.strip() for raw in lines.splitlines())):
        label, arrow, flow = line.rpartition(ARROW)
        if not arrow or not label.strip() or not flow.strip():
            problems["buttons"] = f'"{line}": write each button as LABEL {ARROW} FLOW, e.g. "More tips {ARROW} tips"'
            continue
        buttons.append({"label": label.strip(), "flow": flow.strip()})
    return buttons
