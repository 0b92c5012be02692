"""Slack: escalation messages with buttons, the thread relay to customers, `/engage`, and the StaffDesk port."""

from handlers.slack.adapter import SlackAdapter
from handlers.slack.desk import SlackDesk

__all__ = ["SlackAdapter", "SlackDesk"]
