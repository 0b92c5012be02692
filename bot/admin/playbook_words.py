"""Each playbook section in plain words for its card on /admin/playbook ("On: after a cancellation, day 7 ...,
day 30 ..."), and its customer texts rendered with an example, as a customer would read them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot import templating
from bot.config.activation import ActivationSettings
from bot.config.crosssell import CrosssellSettings
from bot.config.incidents import IncidentSettings
from bot.config.resurvey import ResurveySettings
from bot.config.rewards import RewardSettings
from bot.config.section import Section
from bot.config.winback import WinbackSettings

# A flow's title by its id (the id when there is no such flow).
FlowTitle = Callable[[str], str]

EXAMPLE_INCIDENT = {
    "ref": "INC-12",
    "title": "Late deliveries from the Porto warehouse",
    "what_happened": "A broken conveyor delays orders shipped from Porto since Monday.",
    "what_we_do": "Orders are being moved to the Lisbon warehouse.",
    "next_update": "Thursday 10:00",
    "severity": "major",
    "status": "open",
    "message": "Half of the delayed orders have left the Lisbon warehouse.",
}
EXAMPLE_CUSTOMER = {"first_name": "Maria", "display_name": "Maria Silva"}


def short(title: str) -> str:
    """A flow's title without the program it belongs to ("Win-back - an offer" -> "an offer"): the card names it."""
    return title.split(" - ", 1)[-1]


def _schedule(moments: list[tuple[float, str]], title: FlowTitle) -> list[str]:
    """(days, flow) in order, each flow once with its days: ["day 7 “…”", "days 5 and 12 “…”"]."""
    days: dict[str, list[str]] = {}
    for after, flow in moments:
        days.setdefault(flow, []).append(f"{after:g}")
    return [f"day{'s' if len(d) > 1 else ''} {_and(d)} “{short(title(flow))}”" for flow, d in days.items()]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe(section: Section, title: FlowTitle) -> str:
    """What the section does now, for a business owner."""
    if isinstance(section, WinbackSettings):
        if not section.enabled:
            return "Off: cancellations are not followed up (no save attempt, no win-back messages)."
        steps = _schedule([(s.after_days, s.flow) for s in section.steps], title) or ["no messages"]
        fixable = _and(list(section.fixable_reasons)) if section.fixable_reasons else "none"
        return (f"On: after a cancellation, {_and(steps)}. Reasons staff can fix ({fixable}) open a save-attempt "
                f"ticket; it stops when the customer is back.")  # fmt: skip
    if isinstance(section, ActivationSettings):
        if not section.enabled:
            return "Off: new customers who have not activated get no nudge."
        nudges = _schedule([(n.after_days, n.flow) for n in section.nudges], title)
        if not nudges:
            return "On, but no nudges are set: nothing is sent."
        return f"On: customers who signed up and have not activated get {_and(nudges)}; it stops on activation."
    if isinstance(section, CrosssellSettings):
        if not section.enabled:
            return "Off: no cross-sell offers."
        if not section.rules:
            return "On, but no rules yet: nothing is offered."
        rules = [f"bought {r.bought} → offer {r.offer}" + (f" ({', '.join(r.tiers)})" if r.tiers else "")
                 for r in section.rules.values()]  # fmt: skip
        return (f"On: {_and(rules)}; checked every {section.check_every_minutes:g} minutes, never to a customer "
                "with an open ticket or a recent complaint.")  # fmt: skip
    if isinstance(section, ResurveySettings):
        if not section.enabled:
            return "Off: customers are not asked again."
        months = "month" if section.every_months == 1 else f"{section.every_months} months"
        return f"On: asks “{title(section.flow)}” again every {months} after the last {section.survey} answer."
    if isinstance(section, RewardSettings):
        pools = [f"{name} ({'made from ' + p.template if p.template else 'imported codes'})"
                 for name, p in section.pools.items()]  # fmt: skip
        goodwill = section.goodwill_on_sla_breach
        said = f"{len(pools)} pool{'s' if len(pools) != 1 else ''}: {_and(pools)}." if pools else "No pools yet."
        extra = f" A goodwill reward from {goodwill.pool} after a breached SLA." if goodwill else ""
        return f"{said}{extra} An empty pool is announced in {section.alert_channel}."
    if isinstance(section, IncidentSettings):
        first = examples(section).get("opened_text", "").splitlines()
        return f"A notice starts: “{first[0] if first else ''}”"
    raise TypeError(type(section).__name__)


def enabled(section: Section) -> bool | None:
    """On or off, for sections that can be switched off (None for the others)."""
    return getattr(section, "enabled", None)


def examples(section: Section) -> dict[str, str]:
    """The section's customer texts rendered with an example (a reward, an incident), by field."""
    context: dict[str, Any]
    if isinstance(section, RewardSettings):
        pool_name, pool = next(iter(section.pools.items()), ("welcome", None))
        reward = {"code": "WELCOME-7KQ2MXTP", "pool": pool_name, "description": pool.description if pool else ""}
        if not reward["description"]:
            reward["description"] = "10% off your next order"
        context = {"reward": reward, "customer": EXAMPLE_CUSTOMER}
        fields = ("given_text", "empty_text")
    elif isinstance(section, IncidentSettings):
        context = {"incident": EXAMPLE_INCIDENT, "customer": EXAMPLE_CUSTOMER}
        fields = ("opened_text", "update_text", "resolved_text", "complaint_text")
    else:
        return {}
    return {field: templating.render(getattr(section, field), context) for field in fields}
