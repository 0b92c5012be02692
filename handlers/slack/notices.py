"""What each staff notice says in the ticket's thread, as mrkdwn; pure, like blocks.py."""

from __future__ import annotations

import re
from collections.abc import Callable

from bot.tickets.models import TicketStatus
from bot.tickets.staffdesk import StaffNotice, StaffNoticeKind
from bot.tickets.views import Person
from handlers.slack.blocks import due_text, person
from handlers.slack.mrkdwn import escape, quote, truncate

# Notices after which the escalation message itself is redrawn (status, assignee, buttons).
REDRAW_ROOT = frozenset({StaffNoticeKind.CLAIMED, StaffNoticeKind.REASSIGNED, StaffNoticeKind.RESOLVED,
                         StaffNoticeKind.REOPENED, StaffNoticeKind.CSAT, StaffNoticeKind.SLA_BREACH})  # fmt: skip
CLOCKS = {"first_response": "first response", "resolution": "resolution"}
TEXT_LIMIT = 3000
_MEDIA_NOTE = re.compile(r"^\((photo|document|video) attached\)")


def thread_text(notice: StaffNotice) -> str | None:
    """The thread message for a notice; None for kinds that post nothing."""
    render = _RENDERERS.get(notice.kind)
    return truncate(render(notice), TEXT_LIMIT) if render else None


def redraws_root(notice: StaffNotice) -> bool:
    """Whether the escalation message is redrawn after this notice: it shows the status, assignee, severity and
    deadlines, so a change of any of them redraws it."""
    return notice.kind in REDRAW_ROOT or notice.details.severity_raised is not None


def earlier_text(notice: StaffNotice) -> str | None:
    """What the customer wrote while the ticket was only in a summary, posted first in the thread that starts now;
    None when nothing. The latest messages that fit; any older ones are on the timeline."""
    if not notice.earlier:
        return None
    quoted: list[str] = []
    for message in reversed(notice.earlier):
        block = quote(message)
        if quoted and sum(len(q) + 2 for q in quoted) + len(block) > TEXT_LIMIT - 300:
            break
        quoted.insert(0, block)
    head = f":speech_balloon: *{_customer(notice)}* wrote while this ticket was only in a summary:"
    left = len(notice.earlier) - len(quoted)
    if left:
        ref = escape(notice.ticket.ref)
        head += f" ({left} earlier on the timeline: `engagebot tickets show {ref}`)"
    return truncate("\n\n".join([head, *quoted]), TEXT_LIMIT)


def _customer(notice: StaffNotice) -> str:
    return escape(notice.ticket.customer.name or "The customer")


def _claimed(notice: StaffNotice) -> str:
    return f":raised_hand: {person(notice.ticket.assignee, escape(notice.actor))} claimed this ticket."


def _reassigned(notice: StaffNotice) -> str:
    to = person(notice.ticket.assignee, escape(notice.text))
    return f":arrow_right_hook: {escape(notice.actor or 'Someone')} reassigned this ticket to {to}."


def _customer_message(notice: StaffNotice) -> str:
    text = f":speech_balloon: *{_customer(notice)}* wrote:\n{quote(notice.text)}"
    media = _MEDIA_NOTE.match(notice.text or "")
    attachments = [a for a in notice.ticket.attachments if media and a.kind == media[1]]
    if media and attachments:
        text += f"\n:paperclip: {media[1]} file id `{escape(attachments[-1].ref)}`"
    raised = notice.details.severity_raised
    if raised is not None:  # a more urgent complaint joined the ticket: its severity and deadlines with it
        ticket = notice.ticket
        text += (f"\n:arrow_double_up: Severity raised from {escape(raised.before)} to "
                 f"*{escape(raised.after)}*: first response due {due_text(ticket.first_response_due)}"
                 f", resolution due {due_text(ticket.resolution_due)}.")  # fmt: skip
    return text


def _staff_reply(notice: StaffNotice) -> str:
    return f":leftwards_arrow_with_hook: {escape(notice.actor)} replied to the customer:\n{quote(notice.text)}"


def _note(notice: StaffNotice) -> str:
    return f":memo: Internal note by {escape(notice.actor)}:\n{quote(notice.text)}"


def _resolved(notice: StaffNotice) -> str:
    ticket = notice.ticket
    resolution = escape(notice.text or ticket.resolution)
    text = f":white_check_mark: Resolved by {escape(notice.actor)}: {resolution}"
    if ticket.compensation:
        text += f"\nCompensation offered: {escape(ticket.compensation)}"
    return text + "\nThe customer is asked whether the problem is solved, and for a rating."


def _csat(notice: StaffNotice) -> str:
    score, solved = notice.details.score, notice.details.solved
    stars = ":star:" * int(score) if isinstance(score, int) and 0 < score <= 5 else ""
    verdict = "says it is solved" if solved is True else "says it is *not* solved" if solved is False else "rated it"
    text = f"{stars} {_customer(notice)} {verdict}: CSAT *{score}/5*.".strip()
    if notice.ticket.status == TicketStatus.CLOSED:
        text += " The ticket is closed."
    return text


def _reopened(notice: StaffNotice) -> str:
    ticket = notice.ticket
    why = "says the problem is not solved" if notice.details.solved is False else "was unhappy with the outcome"
    score = notice.details.score
    if score is not None:
        why += f" (CSAT {score}/5)"
    text = f":repeat: {_customer(notice)} {why}. The ticket is reopened for {person(ticket.assignee)}."
    if ticket.backup:
        text += f" {person(ticket.backup)}, you are the backup: please keep an eye on it."
    return text


def _deadline(notice: StaffNotice) -> tuple[str, str]:
    clock = notice.details.clock or "resolution"
    return CLOCKS.get(clock, clock), due_text(notice.ticket.due(clock))


def _sla_reminder(notice: StaffNotice) -> str:
    what, when = _deadline(notice)
    return f":alarm_clock: {person(notice.ticket.assignee)}, reminder: the {what} is due {when}."


def _sla_breach(notice: StaffNotice) -> str:
    ticket = notice.ticket
    what, when = _deadline(notice)
    text = f":rotating_light: <!here> SLA breached: the {what} was due {when}."
    text += f" Assigned to {person(ticket.assignee)}."
    if ticket.backup:
        text += f" {person(ticket.backup)}, please step in."
    return text


def _shown(notice: StaffNotice) -> str:
    # Mentioned, so the person who picked it from a summary is taken straight to it.
    who = person(Person(key="", name=notice.actor, slack_user_id=notice.details.slack_user_id), "Someone")
    return f":eyes: {who} asked to work on this ticket."


def _moved(notice: StaffNotice) -> str:
    return (f":twisted_rightwards_arrows: {_customer(notice)} says their last complaint here is a different problem: "
            f"it is now ticket {escape(notice.text)}, followed up there.")  # fmt: skip


# Every kind but "opened", which is the escalation message itself (blocks.py).
_RENDERERS: dict[StaffNoticeKind, Callable[[StaffNotice], str]] = {
    StaffNoticeKind.CLAIMED: _claimed,
    StaffNoticeKind.REASSIGNED: _reassigned,
    StaffNoticeKind.CUSTOMER_MESSAGE: _customer_message,
    StaffNoticeKind.STAFF_REPLY: _staff_reply,
    StaffNoticeKind.NOTE: _note,
    StaffNoticeKind.RESOLVED: _resolved,
    StaffNoticeKind.CSAT: _csat,
    StaffNoticeKind.REOPENED: _reopened,
    StaffNoticeKind.SLA_REMINDER: _sla_reminder,
    StaffNoticeKind.SLA_BREACH: _sla_breach,
    StaffNoticeKind.SHOWN: _shown,
    StaffNoticeKind.MOVED: _moved,
}
