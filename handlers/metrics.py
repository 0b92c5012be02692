"""Prometheus metrics for /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry()
INBOUND = Counter("engagebot_inbound_messages_total", "Inbound messages handled", ["channel"], registry=REGISTRY)
REPLY_SECONDS = Histogram(
    "engagebot_reply_seconds", "Time to answer one inbound message", ["channel"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)  # fmt: skip


def render() -> bytes:
    return generate_latest(REGISTRY)
