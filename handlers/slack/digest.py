"""Block Kit for a digest: notices folded into one summary because many came at once (bot/tickets/folding.py), and
the DM each assignee gets about theirs. Pure functions of the core's StaffDigest, like blocks.py: every ticket is
named (up to the core's limit) and can be opened from the menu, which posts its escalation message with its buttons.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.tickets.staffdesk import DigestAssignee, DigestTicket, StaffDigest, StaffNoticeKind
from handlers.slack.blocks import JSON, SECTION_LIMIT, context, person, plain, section
from handlers.slack.mrkdwn import escape, truncate

OPEN_TICKET = "ticket_open"  # the menu that posts one of the listed tickets here, with Claim and Resolve
DIGEST_ACTIONS = "digest_actions"
MAX_OPTIONS = 100  # a static_select holds at most 100 options
MAX_REFS = 40  # references written out per line; the menu and the CLI have the rest
CHANNEL_NAMES = {"web": "web chat", "telegram": "Telegram"}
LIST_COMMAND = "engagebot tickets list --limit 1000"


def summary_message(digest: StaffDigest) -> tuple[str, list[JSON]]:
    """The one post that stands for every folded notice of a place (fallback text, blocks)."""
    lines = _lines(digest, digest.tickets, digest.counts, sources=True)
    who = [f"{person(entry.person, 'unassigned')} {_total(entry.counts)}"
           for _key, entry in sorted(digest.assignees.items())]  # fmt: skip
    if who:
        lines.append("For " + ", ".join(who) + ".")
    window = _within(digest.window_seconds)
    explain = (f"Summarised in one post because more than {digest.max_posts} came within {window}. Choose one below "
               f"to post it here with its Claim and Resolve buttons; `{LIST_COMMAND}` lists them all.")  # fmt: skip
    return _message(lines, explain, digest.tickets)


def assignee_message(digest: StaffDigest, key: str, link: str | None) -> tuple[str, list[JSON]] | None:
    """The DM to one assignee about their part of the digest; None when they have none."""
    entry = digest.assignees.get(key) or DigestAssignee(person=None, counts={})
    counts = entry.counts
    if not sum(counts.values()):
        return None
    mine = [t for t in digest.tickets if (t.assignee.key if t.assignee else "") == key]
    where = f"<{link}|one summary>" if link else "one summary in the escalation channel"
    lines = [f"Many tickets came at once, so they are in {where}. Yours:", *_lines(digest, mine, counts, sources=False)]
    return _message(lines, "Choose one below to post it in the channel with its buttons.", mine)


def _lines(
    digest: StaffDigest, tickets: Sequence[DigestTicket], counts: Mapping[str, int], *, sources: bool
) -> list[str]:
    """One line per kind of folded notice: what, how many, which."""
    where = (_sources(digest.sources) if sources else "") + f" {_period(digest)}"
    lines = []
    for notice, emoji, one, many in (
        (StaffNoticeKind.OPENED, ":inbox_tray:", f"new ticket{where}", f"new tickets{where}"),
        (StaffNoticeKind.SLA_REMINDER, ":alarm_clock:", "ticket close to an SLA deadline",
         "tickets close to an SLA deadline"),
        (StaffNoticeKind.SLA_BREACH, ":rotating_light: <!here>", "ticket past an SLA deadline",
         "tickets past an SLA deadline"),
        # Customers writing again on tickets that have no thread yet: the thread starts, with their words, once
        # someone picks the ticket below.
        (StaffNoticeKind.CUSTOMER_MESSAGE, ":speech_balloon:", "customer wrote again on a summarised ticket",
         "customers wrote again on summarised tickets"),
    ):  # fmt: skip
        count = int(counts.get(notice, 0))
        if count:
            refs = [t.ref for t in tickets if t.notice == notice]
            lines.append(f"{emoji} *{count} {one if count == 1 else many}*: {_refs(refs, count)}")
    return lines


def _message(lines: list[str], explain: str, tickets: Sequence[DigestTicket]) -> tuple[str, list[JSON]]:
    text = "\n".join(lines)
    blocks: list[JSON] = [section(text), context(explain)]
    options = _options(tickets)
    if options:
        blocks.append({"type": "actions", "block_id": DIGEST_ACTIONS, "elements": [
            {"type": "static_select", "action_id": OPEN_TICKET, "placeholder": plain("Work on a ticket…"),
             "options": options},
        ]})  # fmt: skip
    return truncate(text, SECTION_LIMIT), blocks


def _options(tickets: Sequence[DigestTicket]) -> list[JSON]:
    seen: dict[str, JSON] = {}
    for ticket in tickets:
        ref = ticket.ref
        if ref and ref not in seen and len(seen) < MAX_OPTIONS:
            label = truncate(f"{ref} · {ticket.summary or ticket.notice}", 75)
            seen[ref] = {"text": plain(label), "value": ref}
    return list(seen.values())


def _refs(refs: Sequence[str], count: int) -> str:
    unique = list(dict.fromkeys(refs))
    shown = ", ".join(escape(ref) for ref in unique[:MAX_REFS])
    rest = count - min(len(unique), MAX_REFS)
    if not shown:
        return f"{count} in all"
    return f"{shown}{f', … and {rest} more' if rest > 0 else ''}"


def _total(counts: Mapping[str, int]) -> str:
    return f"({sum(counts.values())})"


def _sources(sources: Mapping[str, int]) -> str:
    named = [(CHANNEL_NAMES.get(channel, channel), count) for channel, count in sources.items() if count]
    if len(named) == 1:
        return f" from {escape(named[0][0])}"
    if not named:
        return ""
    return " from " + ", ".join(f"{escape(name)} ({count})" for name, count in sorted(named, key=lambda n: -n[1]))


def _period(digest: StaffDigest) -> str:
    """ "in the last 10 seconds", "in the last minute", "in the last 3 minutes"."""
    count, unit = _span(max(1.0, (digest.until - digest.since).total_seconds()))
    return f"in the last {unit}" if count == 1 and unit != "second" else f"in the last {_plural(count, unit)}"


def _within(seconds: float) -> str:
    """ "10 seconds", "a minute", "an hour"."""
    count, unit = _span(seconds)
    return ("an hour" if unit == "hour" else f"a {unit}") if count == 1 else _plural(count, unit)


def _span(seconds: float) -> tuple[int, str]:
    if seconds < 59.5:
        return round(seconds), "second"
    if seconds < 3570:
        return round(seconds / 60), "minute"
    return round(seconds / 3600), "hour"


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'s' if count != 1 else ''}"
