"""What the retention programs ask about a customer, as SQL conditions: usable per customer (a check before a send)
and over all customers (planning), so both ask the same question."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import exists
from sqlalchemy.sql.elements import ColumnElement

from bot.customers.models import CustomerEvent
from bot.surveys.models import SurveyResponse
from bot.tickets.models import UNRESOLVED_STATUSES, Ticket

PURCHASED = "purchased"
PRODUCT = "product"  # the key of a `purchased` event's data that names what was bought
ACTIVATED = "activated"
COMPLAINT = "complaint"


def has_open_ticket(customer_id: Any) -> ColumnElement[bool]:
    return exists().where(Ticket.customer_id == customer_id, Ticket.status.in_(UNRESOLVED_STATUSES))


def complained_since(customer_id: Any, since: datetime) -> ColumnElement[bool]:
    return exists().where(Ticket.customer_id == customer_id, Ticket.kind == COMPLAINT, Ticket.created_at >= since)


def bought(customer_id: Any, product: str) -> ColumnElement[bool]:
    return exists().where(
        CustomerEvent.customer_id == customer_id, CustomerEvent.name == PURCHASED,
        CustomerEvent.data[PRODUCT].as_string() == product,
    )  # fmt: skip


def had_event(customer_id: Any, name: str) -> ColumnElement[bool]:
    return exists().where(CustomerEvent.customer_id == customer_id, CustomerEvent.name == name)


def answered_after(customer_id: Any, survey: str, response_id: int) -> ColumnElement[bool]:
    return exists().where(
        SurveyResponse.customer_id == customer_id, SurveyResponse.survey == survey, SurveyResponse.id > response_id
    )
