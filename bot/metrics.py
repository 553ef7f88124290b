"""Prometheus metrics, defined once. Exposed on /metrics by `bot.health`."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

COMMANDS = Counter(
    "chatops_commands_total", "Commands received, by verb and RBAC decision", ["verb", "decision"]
)
ACK_SECONDS = Histogram(
    "chatops_ack_seconds",
    "Time from receiving a Slack envelope to acknowledging it",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
SLACK_CALLS = Counter(
    "chatops_slack_calls_total", "Slack Web API calls, by method and outcome", ["method", "status"]
)
TRACKED_RUNS = Gauge("chatops_tracked_runs", "Runs currently tracked")
WATCH_RESTARTS = Counter(
    "chatops_watch_restarts_total", "Kubernetes watch restarts, by cluster and reason", ["cluster", "reason"]
)
WORK_QUEUE = Gauge("chatops_work_queue", "Commands accepted and waiting for a worker")
OUTBOX_BACKLOG = Gauge("chatops_outbox_backlog", "Slack messages in the outbox not delivered yet")
OUTBOX_OLDEST_SECONDS = Gauge(
    "chatops_outbox_oldest_seconds", "Age of the oldest Slack message in the outbox not delivered yet"
)
COMMANDS_REFUSED_BUSY = Counter(
    "chatops_commands_busy_total", "Commands answered 'busy' because the work queue was full"
)
