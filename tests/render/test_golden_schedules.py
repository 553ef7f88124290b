"""Golden files for schedules: `schedule list`, the added and removed replies, and every scheduled
report (workflow digest, app health all healthy and with problems, pending approvals, a report
that failed, a `run` schedule's line). Inputs are fixed; `--update-golden` rewrites the files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.model import Reply
from bot.records import APPROVAL_PENDING, RUN_SYNC, RUN_WORKFLOW, Approval, Run
from bot.render.schedules import added_reply, removed_reply, schedules_reply
from bot.schedules import reports
from bot.schedules.jobs import ScheduleEntry, ScheduleSpec

NOW = datetime(2024, 5, 2, 7, 0, tzinfo=UTC)

DIGEST = ScheduleSpec(
    name="morning-digest",
    kind="workflow-digest",
    cron="0 9 * * 1-5",
    channel="C0OPS",
    timezone="Europe/Paris",
    cluster="prod-eu",
    origin="config",
)
HEALTH = ScheduleSpec(
    name="app-health",
    kind="app-health",
    cron="*/30 8-18 * * 1-5",
    channel="C0DEPLOY",
    timezone="UTC",
    origin="stored",
    created_by="U0CAROL",
)
NIGHTLY = ScheduleSpec(
    name="nightly-etl",
    kind="run",
    cron="0 2 * * *",
    channel="C0DATA",
    timezone="America/New_York",
    cluster="prod-us",
    template="nightly-etl",
    parameters={"tables": "orders,customers", "dry-run": "false"},
    origin="stored",
    created_by="U0ALICE",
)

ENTRIES = [
    ScheduleEntry(spec=DIGEST, next_run=datetime(2024, 5, 2, 7, 0, tzinfo=UTC)),
    ScheduleEntry(spec=HEALTH, next_run=datetime(2024, 5, 2, 8, 0, tzinfo=UTC)),
    ScheduleEntry(spec=NIGHTLY, next_run=datetime(2024, 5, 3, 6, 0, tzinfo=UTC)),
]


def run(index: int, phase: str, **changes: Any) -> Run:
    base = Run(
        id=f"r-20240501-{index:04x}",
        kind=RUN_WORKFLOW,
        cluster="prod-eu",
        namespace="batch",
        name=f"nightly-etl-{index:05d}",
        template="nightly-etl",
        parameters={},
        revision=None,
        requester_id="U0ALICE",
        requester_name="alice",
        channel_id="C0OPS",
        parent_ts=None,
        phase=phase,
        progress="3/3",
        message="",
        created_at=NOW - timedelta(hours=20 - index),
        updated_at=NOW,
        finished_at=NOW,
        final_posted=True,
        resource_version=None,
        k8s_uid=None,
    )
    return replace(base, **changes)


DIGEST_RUNS = [
    run(1, "Succeeded"),
    run(2, "Succeeded", template="report-daily", name="report-daily-8k2lq", requester_name="bob"),
    run(3, "Failed", template="db-migrate", name="db-migrate-q8w4n", requester_name="bob"),
    run(4, "Running"),
    run(5, "Error", template="backup", name="backup-7gq2x", cluster="prod-us", requester_name="carol"),
    run(6, "Succeeded", kind=RUN_SYNC, template="checkout-api", name="checkout-api"),  # left out
]

APPS = [
    reports.AppStatus("checkout-api", "payments", "prod-eu", "OutOfSync", "Degraded"),
    reports.AppStatus("ledger", "finance", "prod-eu", "Synced", "Healthy"),
    reports.AppStatus("shop-frontend", "web", "prod-eu", "Synced", "Progressing"),
    reports.AppStatus("search", "web", "prod-us", "OutOfSync", "Healthy"),
    reports.AppStatus("status-page", "web", "prod-us", "Synced", "Healthy"),
]

WAITING = Approval(
    id="4f9a1c2e8b7d4e6fa0b1c2d3e4f5a6b7",
    action="rollback",
    cluster="prod-eu",
    project="payments",
    app="checkout-api",
    target="44->42",
    from_revision="9f3c2b7a41d8e6f0c5b3a2918d7e6f5a4b3c2d1e",
    to_revision="4e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a291",
    reason="INC-2291",
    requester_id="U0CAROL",
    requester_name="carol",
    channel_id="C0DEPLOY",
    message_ts=None,
    status=APPROVAL_PENDING,
    decided_by=None,
    decided_at=None,
    expires_at=NOW + timedelta(minutes=95),
    created_at=NOW,
    run_id=None,
    version=1,
)

REPLIES: dict[str, Reply] = {
    "schedule_list": schedules_reply(ENTRIES),
    "schedule_list_empty": schedules_reply([]),
    "schedule_added": added_reply(ENTRIES[2], user_id="U0ALICE"),
    "schedule_removed": removed_reply("nightly-etl"),
    "report_workflow_digest": reports.workflow_digest(
        DIGEST_RUNS,
        window_hours=24,
        now=NOW,
        log_links={
            "r-20240501-0003": "https://s3.example.test/argo-logs/batch/db-migrate-q8w4n/?X-Amz-Expires=3600"
        },
    ),
    "report_workflow_digest_quiet": reports.workflow_digest([], window_hours=24, now=NOW),
    "report_app_health_all_healthy": reports.app_health(
        [a for a in APPS if not reports.is_unwell(a)], clusters=["prod-eu", "prod-us"]
    ),
    "report_app_health_problems": reports.app_health(APPS, clusters=["prod-eu", "prod-us"]),
    "report_pending_approvals": reports.pending_approvals(
        [
            WAITING,
            replace(
                WAITING,
                id="0b2c",
                app="ledger",
                project="finance",
                requester_name="dave",
                to_revision="v3.1.0",
                expires_at=NOW + timedelta(minutes=7),
            ),
        ],
        now=NOW,
    ),
    "report_failed": reports.failed(schedule="app-health", kind="app-health"),
    "report_run_submitted": reports.run_submitted(
        schedule="nightly-etl", template="nightly-etl", cluster="prod-us", run_name="nightly-etl-x7k2p"
    ),
}


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_schedule_message(name: str, golden_reply: Callable[..., None]) -> None:
    golden_reply(name, REPLIES[name])
