"""Block Kit for tickets, as pure functions of the core's ticket view: the escalation message with its buttons,
the Resolve modal, the assignee's DM. No network here, so every rendering is testable as data."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from bot.tickets.models import UNRESOLVED_STATUSES, TicketStatus
from bot.tickets.views import Attachment, Deadline, Person, TicketView
from handlers.slack.mrkdwn import escape, mention, truncate

JSON = dict[str, Any]  # a Block Kit object, as Slack's Web API takes it

CLAIM = "ticket_claim"
REASSIGN = "ticket_reassign"
RESOLVE = "ticket_resolve"
RESOLVE_VIEW = "ticket_resolve_modal"
ACTIONS_BLOCK = "ticket_actions"
RESOLUTION_INPUT = ("resolution", "text")  # (block_id, action_id) in the Resolve modal
COMPENSATION_INPUT = ("compensation", "text")
REWARD_INPUT = ("reward", "pool")  # a pool of reward codes to give as the compensation (rewards.pools)

STATUS_LABELS = {
    TicketStatus.OPEN: "Open, nobody assigned",
    TicketStatus.ASSIGNED: "Assigned",
    TicketStatus.CLAIMED: "Claimed",
    TicketStatus.WAITING_ON_CUSTOMER: "Waiting on the customer",
    TicketStatus.IN_PROGRESS: "In progress",
    TicketStatus.RESOLVED: "Resolved, waiting for the customer's answer",
    TicketStatus.CLOSED: "Closed",
    TicketStatus.REOPENED: "Reopened",
}
SECTION_LIMIT = 3000  # characters of one section's text
FIELD_LIMIT = 2000
MAX_OPTIONS = 100  # a static_select holds at most 100 options
RETENTION = "retention"  # the ticket category of save attempts (winback.ticket_category)


def person(who: Person | None, nobody: str = "nobody") -> str:
    """A staff member as Slack shows them: an @-mention when their Slack id is known, else their name."""
    if who is None:
        return nobody
    return mention(who.slack_user_id, escape(who.name or nobody))


def ticket_title(ticket: TicketView) -> str:
    # A retention ticket is a save attempt: the customer is leaving and a person tries to keep them.
    kind = "Save attempt" if ticket.category == RETENTION else "Complaint" if ticket.kind == "complaint" else "Hand-off"
    return f"{kind} {ticket.ref}: {ticket.summary or ticket.category or ''}".rstrip(": ")


def status_line(ticket: TicketView) -> str:
    parts = [f"*{STATUS_LABELS.get(ticket.status, ticket.status)}*"]
    if ticket.assignee:
        parts.append(f"with {person(ticket.assignee)}")
    if ticket.sla_breached:
        parts.append(":rotating_light: SLA breached")
    if ticket.csat_score is not None:
        parts.append(f"CSAT {ticket.csat_score}/5")
    return " · ".join(parts)


def due_text(due: Deadline | None) -> str:
    return due.text if due else "no deadline"


def ticket_message(ticket: TicketView, staff: Sequence[tuple[str, str]] = ()) -> tuple[str, list[JSON]]:
    """The escalation message (fallback text, blocks). `staff` is the directory as (key, name) for Reassign."""
    customer = ticket.customer
    fields = [
        ("Customer", escape(customer.name) + _channels(customer.channels)),
        ("Tier", escape(customer.tier or "standard")),
        ("Category", escape(ticket.category or "general")),
        ("Severity", escape(ticket.severity or "normal")),
        ("Assignee", person(ticket.assignee, "unassigned")),
        ("First response due", due_text(ticket.first_response_due)),
        ("Resolution due", due_text(ticket.resolution_due)),
    ]
    if ticket.incident:
        fields.append(("Incident", f":warning: {escape(ticket.incident)}"))
    blocks: list[JSON] = [
        {"type": "header", "text": plain(truncate(ticket_title(ticket), 150))},
        {"type": "section", "fields": [mrkdwn(truncate(f"*{k}*\n{v}", FIELD_LIMIT)) for k, v in fields]},
    ]
    if ticket.description:
        blocks.append(section(f"*Description*\n{escape(ticket.description)}"))
    recent = [line for line in ticket.recent_messages if line]
    if recent:
        blocks.append(section("*Last messages*\n" + "\n".join(f">{escape(line)}" for line in recent)))
    if ticket.attachments:
        blocks.append(context(attachments_text(ticket.attachments)))
    if ticket.resolution:
        resolved = f"*Resolution:* {escape(ticket.resolution)}"
        if ticket.compensation:
            resolved += f"\n*Compensation:* {escape(ticket.compensation)}"
        blocks.append(section(resolved))
    blocks.append(context(status_line(ticket)))
    if ticket.status in UNRESOLVED_STATUSES:
        blocks.append(actions(ticket, staff))
    # The fallback text is mrkdwn too (notifications, clients without blocks): the customer's summary is escaped.
    text = f"{escape(ticket_title(ticket))} (for {person(ticket.assignee, 'nobody yet')})"
    return truncate(text, 3000), blocks


def actions(ticket: TicketView, staff: Sequence[tuple[str, str]]) -> JSON:
    ref = ticket.ref
    elements: list[JSON] = [
        {"type": "button", "action_id": CLAIM, "text": plain("Claim"), "value": ref, "style": "primary"}
    ]
    options = [
        {"text": plain(truncate(name, 75)), "value": f"{ref}:{key}"} for key, name in staff[:MAX_OPTIONS]
    ]  # fmt: skip
    if options:
        elements.append(
            {"type": "static_select", "action_id": REASSIGN, "placeholder": plain("Reassign to…"), "options": options}
        )
    elements.append({"type": "button", "action_id": RESOLVE, "text": plain("Resolve"), "value": ref})
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


def attachments_text(attachments: Iterable[Attachment]) -> str:
    return "\n".join(f":paperclip: {escape(a.kind)}: file id `{escape(a.ref)}`" for a in attachments)


def assignee_dm(ticket: TicketView, link: str | None) -> str:
    """The note the assignee gets in their DM when a ticket is theirs."""
    customer = ticket.customer
    where = f"<{link}|Open the thread>" if link else "See the escalation channel"
    return truncate(
        f"You have a new ticket: *{escape(ticket_title(ticket))}*\n"
        f"From {escape(customer.name)} ({escape(customer.tier)}), severity {escape(ticket.severity)}. "
        f"First response due {due_text(ticket.first_response_due)}.\n{where}: claim it, reply in the thread "
        "(the customer reads it), start with `note:` to keep a line internal, and resolve it there.",
        3000,
    )


def reassigned_dm(ticket: TicketView, by: str, link: str | None) -> str:
    where = f"<{link}|Open the thread>" if link else "See the escalation channel"
    return f"{escape(by)} passed you *{escape(ticket_title(ticket))}*. {where}."


def resolve_modal(ref: str, metadata: Mapping[str, str], pools: Sequence[tuple[str, str]] = ()) -> JSON:
    """The modal the Resolve button opens; `metadata` (ref, where it was pressed) comes back on submission. `pools`:
    the reward pools as (name, title), offered as a code to give with the compensation."""
    resolution_block, resolution_action = RESOLUTION_INPUT
    compensation_block, compensation_action = COMPENSATION_INPUT
    modal = {
        "type": "modal",
        "callback_id": RESOLVE_VIEW,
        "private_metadata": json.dumps({"ref": ref, **metadata}),
        "title": plain(truncate(f"Resolve {ref}", 24)),
        "submit": plain("Resolve"),
        "close": plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": resolution_block,
                "label": plain("Resolution summary"),
                "hint": plain("The customer reads this, then is asked whether the problem is solved."),
                "element": {"type": "plain_text_input", "action_id": resolution_action, "multiline": True,
                            "max_length": 2000},
            },
            {
                "type": "input",
                "block_id": compensation_block,
                "optional": True,
                "label": plain("Compensation offered"),
                "element": {"type": "plain_text_input", "action_id": compensation_action, "max_length": 500},
            },
        ],
    }  # fmt: skip
    if pools:
        modal["blocks"].append(reward_input(pools))
    return modal


def reward_input(pools: Sequence[tuple[str, str]]) -> JSON:
    """An optional choice of reward pool: the customer gets one of its codes with the resolution."""
    block_id, action_id = REWARD_INPUT
    options = [{"text": plain(truncate(title or name, 75)), "value": name} for name, title in pools[:MAX_OPTIONS]]
    return {
        "type": "input", "block_id": block_id, "optional": True, "label": plain("Reward code as compensation"),
        "hint": plain("The customer gets a code of this pool (once per customer per pool)."),
        "element": {"type": "static_select", "action_id": action_id, "placeholder": plain("No reward"),
                    "options": options},
    }  # fmt: skip


def ticket_summary(ticket: TicketView) -> str:
    """One ticket for `/engage ticket C-1042`."""
    customer = ticket.customer
    lines = [
        f"*{escape(ticket_title(ticket))}*",
        status_line(ticket),
        f"Customer: {escape(customer.name)} ({escape(customer.tier)}) · "
        f"{escape(ticket.category)} · {escape(ticket.severity)}",
        f"First response due {due_text(ticket.first_response_due)} · resolution due {due_text(ticket.resolution_due)}",
    ]
    if ticket.resolution:
        lines.append(f"Resolution: {escape(ticket.resolution)}")
    return truncate("\n".join(lines), 3000)


def mine_text(tickets: Sequence[TicketView]) -> str:
    """`/engage mine`: the caller's unresolved tickets, most urgent first."""
    if not tickets:
        return "You have no open tickets."
    lines = [f"Your open tickets ({len(tickets)}):"]
    for t in tickets[:50]:
        lines.append(f"• *{escape(t.ref)}* {escape(truncate(t.summary or '', 80))} "
                     f"({STATUS_LABELS.get(t.status, t.status)}, "
                     f"first response due {due_text(t.first_response_due)})")  # fmt: skip
    return truncate("\n".join(lines), 3000)


def help_text(command: str) -> str:
    return (
        f"`{command} mine`: your open tickets\n"
        f"`{command} ticket C-1042`: one ticket's summary\n"
        "In a ticket's thread: write to reply to the customer (they read it with your name); "
        "start with `note:` for an internal note."
    )


def _channels(channels: Iterable[str]) -> str:
    names = ", ".join(channels)
    return f" ({escape(names)})" if names else ""


def plain(text: str) -> JSON:
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> JSON:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> JSON:
    return {"type": "section", "text": mrkdwn(truncate(text, SECTION_LIMIT))}


def context(text: str) -> JSON:
    return {"type": "context", "elements": [mrkdwn(truncate(text, SECTION_LIMIT))]}
