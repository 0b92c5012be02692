"""Campaigns: who they reach, what they say, and planning their occurrences into outbox rows."""
