"""Choosing the named person who follows a ticket up, with the reasons, as a pure function."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.config import RoutingSettings, StaffMember
from bot.tickets.hours import describe, is_working


@dataclass(frozen=True)
class TicketFacts:
    category: str
    severity: str
    tier: str
    language: str | None
    account_manager: str | None = None
    previous_handler: str | None = None


@dataclass(frozen=True)
class Workload:
    """What routing needs to know about staff right now."""

    open_tickets: Mapping[str, int] = field(default_factory=dict)
    last_assigned: Mapping[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class RoutingDecision:
    staff_key: str | None
    reasons: tuple[str, ...]

    def explain(self) -> str:
        return "\n".join(self.reasons)


class TicketRouter:
    def __init__(self, staff: tuple[StaffMember, ...], routing: RoutingSettings):
        self.staff = {m.key: m for m in staff}
        self.routing = routing

    def choose_assignee(self, facts: TicketFacts, load: Workload, now: datetime) -> RoutingDecision:
        reasons: list[str] = []

        def take(key: str, why: str) -> RoutingDecision:
            reasons.append(f"-> {self.staff[key].name} ({key}): {why}")
            return RoutingDecision(key, tuple(reasons))

        # 1. The customer's own account manager (core customers have a dedicated person).
        manager = facts.account_manager
        if manager:
            verdict = self._unavailable(manager, load, now)
            if verdict is None:
                return take(manager, "the customer's account manager")
            reasons.append(f"account manager {manager}: {verdict}")
            backup = self.staff[manager].backup if manager in self.staff else None
            if backup:
                verdict = self._unavailable(backup, load, now)
                if verdict is None:
                    return take(backup, f"backup of account manager {manager}")
                # Said, so `routing explain` shows why the backup was passed over too.
                reasons.append(f"backup {backup}: {verdict}")
        # 2. Whoever handled the customer's last ticket: they know the story.
        previous = facts.previous_handler
        if previous and self.routing.prefer_previous_handler:
            verdict = self._unavailable(previous, load, now, facts)
            if verdict is None:
                return take(previous, "handled the customer's last ticket")
            reasons.append(f"previous handler {previous}: {verdict}")
        # 3. The first rule that matches, to a pool or a person.
        for index, rule in enumerate(self.routing.rules, start=1):
            if not self._matches(rule.match, facts):
                continue
            reasons.append(f"rule {index} matches ({self._describe_match(rule.match)}) -> {rule.to}")
            members = self.routing.pools[rule.to].members if rule.to in self.routing.pools else (rule.to,)
            chosen = self._pick(members, rule.to, load, now, reasons, facts=None)
            if chosen:
                return take(chosen, f"rule {index}")
        # 4. Anyone whose skills, tiers and languages fit.
        fitting = [k for k, m in self.staff.items() if self._fits(m, facts)]
        if fitting:
            reasons.append(f"staff fitting category {facts.category!r}: {', '.join(fitting)}")
            chosen = self._pick(tuple(fitting), "fitting staff", load, now, reasons, facts=facts)
            if chosen:
                return take(chosen, "fits the ticket, least loaded")
        # 5. The on-call lead, whatever their load or hours: a ticket never goes to nobody if there is a
        # lead. But never a lead marked inactive (they left, or are on leave): nobody would see it.
        fallback = self.routing.fallback
        if fallback and fallback in self.staff and self.staff[fallback].active:
            return take(fallback, "on-call lead (fallback)")
        if fallback and fallback in self.staff:
            reasons.append(f"nobody available and the fallback {fallback} is inactive: the ticket waits unassigned")
        else:
            reasons.append("nobody available and no fallback configured: the ticket waits unassigned")
        return RoutingDecision(None, tuple(reasons))

    def _pick(
        self, members: tuple[str, ...], name: str, load: Workload, now: datetime, reasons: list[str],
        facts: TicketFacts | None,
    ) -> str | None:  # fmt: skip
        available = []
        for key in members:
            verdict = self._unavailable(key, load, now, facts)
            if verdict is None:
                available.append(key)
            else:
                reasons.append(f"  {key}: {verdict}")
        if not available:
            reasons.append(f"  nobody available in {name}")
            return None
        pool = self.routing.pools.get(name)
        epoch = datetime.min.replace(tzinfo=now.tzinfo)
        if pool is not None and pool.strategy == "round_robin":
            # The one assigned longest ago goes next: a rotation that survives restarts.
            chosen = min(available, key=lambda k: (load.last_assigned.get(k, epoch), members.index(k)))
            reasons.append(f"  round robin in {name}: {chosen} is next")
        else:
            chosen = min(
                available,
                key=lambda k: (load.open_tickets.get(k, 0), load.last_assigned.get(k, epoch), members.index(k)),
            )
            reasons.append(f"  least loaded in {name}: {chosen} ({load.open_tickets.get(chosen, 0)} open)")
        return chosen

    def _unavailable(self, key: str, load: Workload, now: datetime, facts: TicketFacts | None = None) -> str | None:
        """None when the person can take the ticket now, else why not."""
        member = self.staff.get(key)
        if member is None:
            return "not in the staff directory"
        if not member.active:
            return "inactive"
        if load.open_tickets.get(key, 0) >= member.capacity:
            return f"at capacity ({load.open_tickets.get(key, 0)}/{member.capacity} open)"
        if not is_working(member.working_hours, now):
            return f"outside working hours ({describe(member.working_hours)})"
        if facts is not None and not self._fits(member, facts):
            return "does not handle this category, tier or language"
        return None

    @staticmethod
    def _fits(member: StaffMember, facts: TicketFacts) -> bool:
        return (
            (not member.categories or facts.category in member.categories)
            and (not member.tiers or facts.tier in member.tiers)
            and (not member.languages or facts.language is None or facts.language in member.languages)
        )

    @staticmethod
    def _matches(match: object, facts: TicketFacts) -> bool:
        pairs = (
            (match.category, facts.category),  # type: ignore[attr-defined]
            (match.severity, facts.severity),  # type: ignore[attr-defined]
            (match.tier, facts.tier),  # type: ignore[attr-defined]
            (match.language, facts.language),  # type: ignore[attr-defined]
        )
        return all(not wanted or value in wanted for wanted, value in pairs)

    @staticmethod
    def _describe_match(match: object) -> str:
        parts = [
            f"{name}={'|'.join(getattr(match, name))}"
            for name in ("category", "severity", "tier", "language")
            if getattr(match, name)
        ]
        return ", ".join(parts) or "any ticket"
