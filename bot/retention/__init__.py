"""The retention playbook's programs: cancellations and win-back, activation nudges, cross-sell offers and the NPS
re-survey. Each queues its messages as outbox rows that go through the delivery policy like any proactive work."""
