"""Checks across sections that name each other (staff keys in routing, tiers in campaigns), each problem at the
file:line of the name, with a did-you-mean: a typo would otherwise route nowhere or reach nobody. The playbook's
sections, when the console changes one, are checked against the flows, tiers and pools in force (playbook_problems)."""

from __future__ import annotations

from collections.abc import Collection

from bot.config.activation import ActivationSettings
from bot.config.crosssell import CrosssellSettings
from bot.config.incidents import IncidentSettings
from bot.config.resurvey import ResurveySettings
from bot.config.rewards import RewardSettings
from bot.config.section import Section
from bot.config.settings import Settings
from bot.config.winback import WinbackSettings
from bot.yamlsource import Problem, YamlDocument, did_you_mean


def staff_problems(settings: Settings, doc: YamlDocument) -> list[Problem]:
    """Every staff key that routing names must exist: a typo would silently route nowhere."""
    problems: list[Problem] = []
    keys = [m.key for m in settings.staff]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            problems.append(doc.problem(("staff", i, "key"), f'staff key "{key}" is used twice'))
    known = set(keys)
    pools = settings.routing.pools

    def check(loc: tuple[str | int, ...], name: str | None, allow_pool: bool = False) -> None:
        if name is None or name in known or (allow_pool and name in pools):
            return
        options = known | (set(pools) if allow_pool else set())
        what = "staff key or pool" if allow_pool else "staff key"
        problems.append(doc.problem(loc, f'unknown {what} "{name}"{did_you_mean(name, options)}'))

    for i, member in enumerate(settings.staff):
        check(("staff", i, "backup"), member.backup)
    for name, pool in pools.items():
        for j, key in enumerate(pool.members):
            check(("routing", "pools", name, "members", j), key)
    for i, rule in enumerate(settings.routing.rules):
        check(("routing", "rules", i, "to"), rule.to, allow_pool=True)
    check(("routing", "fallback"), settings.routing.fallback)
    return problems


def tier_problems(settings: Settings, doc: YamlDocument) -> list[Problem]:
    """Tier rules must parse and give each tier once; campaigns may only name tiers the rules produce."""
    from bot.templating import check_expression

    problems: list[Problem] = []
    first_rule: dict[str, int] = {}
    for i, rule in enumerate(settings.tiers.rules):
        if rule.tier in first_rule:
            line = doc.line_of(("tiers", "rules", first_rule[rule.tier], "tier"))
            message = f'tier "{rule.tier}" already has a rule (line {line}); give each tier one rule'
            problems.append(doc.problem(("tiers", "rules", i, "tier"), message))
        first_rule.setdefault(rule.tier, i)
        error = check_expression(rule.when) if rule.when is not None else None
        if error:
            problems.append(doc.problem(("tiers", "rules", i, "when"), f'tier rule "{rule.tier}": {error}'))

    def check(loc: tuple[str | int, ...], tier: str) -> None:
        message = unknown_tier(settings, tier)
        if message:
            problems.append(doc.problem(loc, message))

    for name, campaign in settings.campaigns.items():
        for j, tier in enumerate(campaign.audience.tiers):
            check(("campaigns", name, "audience", "tiers", j), tier)
        for tier in campaign.schedule:
            if tier != "*":
                check(("campaigns", name, "schedule", tier), tier)
    return problems


def reward_problems(settings: Settings, doc: YamlDocument) -> list[Problem]:
    """Campaigns that give a reward name a pool under rewards.pools."""
    return [
        doc.problem(("campaigns", name, "reward"), message)
        for name, campaign in settings.campaigns.items()
        if campaign.reward and (message := unknown_pool(settings, campaign.reward))
    ]


def unknown_pool(settings: Settings, pool: str) -> str | None:
    """What is wrong with a campaign or a flow naming reward pool `pool` (a typo would give nobody anything), or None
    when rewards.pools has it."""
    pools = sorted(settings.rewards.pools)
    if pool in pools:
        return None
    return f'unknown reward pool "{pool}"{did_you_mean(pool, pools)}; rewards.pools has: {", ".join(pools) or "none"}'


def known_tiers(settings: Settings) -> list[str]:
    """The tiers the tier rules can give, the default first."""
    return list(dict.fromkeys([settings.tiers.default, *(rule.tier for rule in settings.tiers.rules)]))


def unknown_tier(settings: Settings, tier: str) -> str | None:
    """What is wrong with a campaign naming `tier` (a typo would reach nobody), or None when the rules give it."""
    tiers = known_tiers(settings)
    if tier in tiers:
        return None
    known = ", ".join(sorted(tiers))
    return f'unknown tier "{tier}"{did_you_mean(tier, tiers)}; tiers.default and tiers.rules give: {known}'


def playbook_problems(settings: Settings, name: str, section: Section, flows: Collection[str]) -> dict[str, str]:
    """What a playbook section names that does not exist (flows, tiers, reward pools) and its texts that do not
    compile, by field path (steps.0.flow, rules.NAME.tiers): the console shows each at its field and saves nothing."""
    from bot.templating import check_template

    problems: dict[str, str] = {}

    def flow(path: str, flow_id: str) -> None:
        if flow_id not in flows:
            problems.setdefault(path, f'there is no flow "{flow_id}"{did_you_mean(flow_id, flows)}')

    def texts(*fields: str) -> None:
        for field in fields:
            problem = check_template(getattr(section, field))
            if problem:
                problems[field] = problem

    if isinstance(section, WinbackSettings):
        flow("flow", section.flow)
        for i, step in enumerate(section.steps):
            flow(f"steps.{i}.flow", step.flow)
    elif isinstance(section, ActivationSettings):
        for i, nudge in enumerate(section.nudges):
            flow(f"nudges.{i}.flow", nudge.flow)
    elif isinstance(section, CrosssellSettings):
        for rule_name, rule in section.rules.items():
            flow(f"rules.{rule_name}.flow", rule.flow)
            for tier in rule.tiers:
                problem = unknown_tier(settings, tier)
                if problem:
                    problems.setdefault(f"rules.{rule_name}.tiers", problem)
    elif isinstance(section, ResurveySettings):
        flow("flow", section.flow)
    elif isinstance(section, RewardSettings):
        texts("given_text", "empty_text")
        for campaign_name, campaign in settings.campaigns.items():
            if campaign.reward and campaign.reward not in section.pools:
                problems.setdefault("pools", f'campaign "{campaign_name}" gives rewards from pool "{campaign.reward}": '
                                             "keep that pool, or change the campaign first")  # fmt: skip
    elif isinstance(section, IncidentSettings):
        texts("opened_text", "update_text", "resolved_text", "complaint_text")
    return problems
