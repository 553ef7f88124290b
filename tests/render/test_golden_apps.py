"""Golden files for Argo CD: `apps` (one page, several pages, past the last page), `app`, `history`,
and the sync and rollback threads (parent, thread replies, summary).

Inputs are fixed; `pytest tests/render --update-golden` rewrites `golden/*.json`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.applications import AppDetail, AppSummary, HistoryEntry, OperationView
from bot.records import Run
from bot.render.apps import (
    PageInfo,
    app_reply,
    apps_reply,
    history_reply,
    render_sync_parent,
    render_sync_summary,
    render_sync_transition,
)
from bot.tracking.sync_progress import ResourceView, SyncState, SyncTransition
from bot.tracking.sync_tracker import display_run

START = datetime(2024, 5, 1, 14, 30, tzinfo=UTC)
SHA = "9f3c2b7a41d8e6f0c5b3a2918d7e6f5a4b3c2d1e"
OLD_SHA = "4e1d0c9b8a7f6e5d4c3b2a1908f7e6d5c4b3a291"
UI = "https://cd.example.test/applications/argocd/checkout-api"


def app(name: str, **changes: object) -> AppSummary:
    base = AppSummary(
        name=name,
        project="payments",
        cluster="prod-eu",
        namespace="payments",
        sync_status="Synced",
        health_status="Healthy",
        revision=SHA,
        auto_sync=False,
        operation_phase="Succeeded",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


ONE_PAGE = [
    app("checkout-api", sync_status="OutOfSync", operation_phase="Running"),
    app("checkout-worker", health_status="Degraded"),
    app("ledger", project="finance", namespace="finance", auto_sync=True),
    app("shop-frontend", project="web", namespace="shop", health_status="Progressing", revision="v2.14.0"),
    app(
        "status-page",
        project="web",
        namespace="status",
        sync_status="Unknown",
        health_status="Missing",
        revision="",
        operation_phase=None,
    ),
]

MANY = [
    app(
        f"svc-{index:03d}",
        project=("payments", "web", "data")[index % 3],
        namespace=("payments", "shop", "etl")[index % 3],
        sync_status="OutOfSync" if index % 9 == 0 else "Synced",
        health_status="Degraded" if index % 13 == 0 else "Healthy",
        auto_sync=index % 2 == 0,
    )
    for index in range(61)
]

HISTORY = tuple(
    HistoryEntry(
        id=index,
        revision=f"{index:02d}" + SHA[2:],
        deployed_at=START - timedelta(days=45 - index, hours=index),
        repo="https://git.example.test/platform/deploy.git",
        path="apps/checkout-api",
        target_revision=f"v1.{index}.0",
        initiated_by="automated" if index % 3 == 0 else "alice@example.test",
    )
    for index in range(38, 45)
)

DETAIL = AppDetail(
    summary=app("checkout-api", sync_status="OutOfSync", health_status="Degraded", revision=SHA),
    repo="https://git.example.test/platform/deploy.git",
    path="apps/checkout-api",
    target_revision="main",
    last_operation=OperationView(
        phase="Failed",
        message='one or more objects failed to apply, reason: Deployment.apps "checkout-api" is invalid: '
        "spec.template.spec.containers[0].image: Required value",
        revision=SHA,
        started_at=START,
        finished_at=START + timedelta(seconds=75),
        initiated_by="bob@example.test",
    ),
    history=HISTORY,
    conditions=("SyncError: Failed sync attempt to 9f3c2b7a41: one or more objects failed to apply",),
)


def test_apps_one_page(golden_reply: Callable[..., None]) -> None:
    golden_reply("apps_one_page", apps_reply(ONE_PAGE, PageInfo(cluster="prod-eu")))


def test_apps_several_pages(golden_reply: Callable[..., None]) -> None:
    reply = apps_reply(MANY, PageInfo(page=2, cluster="prod-eu"))
    assert "Page 2 of 3" in (reply.context or "")
    assert "Next page: `/ops apps --cluster prod-eu --page 3`." in (reply.context or "")
    golden_reply("apps_page_2_of_3", reply)


def test_apps_past_the_last_page(golden_reply: Callable[..., None]) -> None:
    reply = apps_reply(MANY, PageInfo(page=7, cluster="prod-eu", filters=("--out-of-sync",)), slash="/deploy")
    footer = reply.context or ""
    assert "Page 3 of 3 (11 shown): page 7 is past the end, so this is the last page." in footer
    assert "Previous page: `/deploy apps --cluster prod-eu --out-of-sync --page 2`." in footer
    golden_reply("apps_past_the_last_page", reply)


def test_app_detail(golden_reply: Callable[..., None]) -> None:
    golden_reply("app_detail", app_reply(DETAIL))


def test_history(golden_reply: Callable[..., None]) -> None:
    golden_reply("history", history_reply(DETAIL))


# -- sync and rollback threads -----------------------------------------------------------------


def sync_run(*, kind: str = "sync", phase: str, revision: str | None = None) -> Run:
    return Run(
        id="r-20240501-5b7d",
        kind=kind,
        cluster="argocd-prod",
        namespace="argocd",
        name="checkout-api",
        template="checkout-api",
        parameters={"destination": "prod-eu"},
        revision=revision,
        requester_id="U0CAROL",
        requester_name="carol",
        channel_id="C0DEPLOY",
        parent_ts="1714573800.000300",
        phase=phase,
        progress="",
        message="",
        created_at=START - timedelta(seconds=2),
        updated_at=START,
        finished_at=None,
        final_posted=False,
        resource_version=None,
        k8s_uid=None,
    )


def resource(
    kind: str,
    name: str,
    *,
    status: str = "Synced",
    health: str = "Healthy",
    wave: int = 0,
    message: str = "",
    hook: str = "",
    hook_phase: str = "",
    phase: str = "Sync",
) -> ResourceView:
    return ResourceView(
        kind=kind,
        namespace="payments",
        name=name,
        status=status,
        health=health,
        message=message,
        hook_type=hook,
        hook_phase=hook_phase,
        sync_phase=phase,
        wave=wave,
    )


MIGRATION_HOOK = resource(
    "Job",
    "checkout-db-migrate",
    status="",
    health="",
    hook="PreSync",
    hook_phase="Succeeded",
    phase="PreSync",
    wave=-1,
    message="job completed",
)
CONFIG = resource("ConfigMap", "checkout-api-config", message="configmap/checkout-api-config configured")
SERVICE = resource("Service", "checkout-api", message="service/checkout-api unchanged")
DEPLOYMENT = resource(
    "Deployment",
    "checkout-api",
    wave=1,
    health="Progressing",
    message="deployment.apps/checkout-api configured",
)
DEPLOYMENT_FAILED = resource(
    "Deployment",
    "checkout-api",
    status="SyncFailed",
    health="Degraded",
    wave=1,
    message='Deployment.apps "checkout-api" is invalid: '
    "spec.template.spec.containers[0].image: Required value",
)
SMOKE_FAILED = resource(
    "Job",
    "checkout-smoke-test",
    status="",
    health="",
    hook="PostSync",
    hook_phase="Failed",
    phase="PostSync",
    wave=0,
    message="Job has reached the specified backoff limit",
)


def sync_state(
    phase: str,
    *resources: ResourceView,
    finished: int | None = None,
    message: str = "",
    health: str = "Progressing",
    revision: str = SHA,
    pending: bool = False,
) -> SyncState:
    return SyncState(
        phase=phase,
        message=message,
        revision=revision,
        started_at=START,
        finished_at=START + timedelta(seconds=finished) if finished is not None else None,
        health=health,
        sync_status="Synced" if phase == "Succeeded" else "OutOfSync",
        resources=resources,
        operation_pending=pending,
        initiated_by="carol",
    )


RUNNING = sync_state(
    "Running",
    MIGRATION_HOOK,
    CONFIG,
    SERVICE,
    replace(DEPLOYMENT, status=""),
    message="waiting for healthy state of apps/Deployment/checkout-api",
)
SYNCED = sync_state(
    "Succeeded",
    MIGRATION_HOOK,
    CONFIG,
    SERVICE,
    replace(DEPLOYMENT, health="Healthy"),
    finished=96,
    message="successfully synced (all tasks run)",
    health="Healthy",
)
FAILED = sync_state(
    "Failed",
    MIGRATION_HOOK,
    CONFIG,
    SERVICE,
    DEPLOYMENT_FAILED,
    SMOKE_FAILED,
    finished=141,
    health="Degraded",
    message='one or more objects failed to apply, reason: Deployment.apps "checkout-api" is '
    "invalid (retried 2 times).",
)

PARENTS: dict[str, tuple[Run, SyncState | None, int]] = {
    "sync_parent_running": (sync_run(phase="Running"), RUNNING, 47),
    "sync_parent_synced": (sync_run(phase="Succeeded"), SYNCED, 400),
    "sync_parent_finishing": (sync_run(phase="Running"), replace(SYNCED, operation_pending=True), 97),
    "rollback_parent_running": (
        sync_run(kind="rollback", phase="Running", revision=OLD_SHA),
        sync_state("Running", replace(DEPLOYMENT, status=""), revision=OLD_SHA, health="Progressing"),
        30,
    ),
    "rollback_parent_requested": (sync_run(kind="rollback", phase="Pending", revision=OLD_SHA), None, 1),
}


@pytest.mark.parametrize("name", sorted(PARENTS))
def test_sync_parent(name: str, golden_message: Callable[..., None]) -> None:
    record, state, now_after = PARENTS[name]
    text, blocks = render_sync_parent(
        run=display_run(record), state=state, now=START + timedelta(seconds=now_after), ui_url=UI
    )
    golden_message(name, text, blocks)


REPLIES: dict[str, SyncTransition] = {
    "sync_reply_wave_started": SyncTransition("wave-started", wave=1, sync_phase="Sync"),
    "sync_reply_presync_wave_started": SyncTransition("wave-started", wave=-1, sync_phase="PreSync"),
    "sync_reply_resource_synced": SyncTransition("resource-synced", resource=CONFIG),
    "sync_reply_resource_failed": SyncTransition("resource-failed", resource=DEPLOYMENT_FAILED),
    "sync_reply_hook_started": SyncTransition(
        "hook-started", resource=replace(MIGRATION_HOOK, hook_phase="Running", message="")
    ),
    "sync_reply_hook_succeeded": SyncTransition("hook-finished", resource=MIGRATION_HOOK),
    "sync_reply_hook_failed": SyncTransition("hook-failed", resource=SMOKE_FAILED),
}


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_sync_reply(name: str, golden_message: Callable[..., None]) -> None:
    golden_message(name, render_sync_transition(REPLIES[name]), [])


SUMMARIES: dict[str, SyncState] = {
    "sync_summary_succeeded": SYNCED,
    "sync_summary_failed": FAILED,
}


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_sync_summary(name: str, golden_message: Callable[..., None]) -> None:
    state = SUMMARIES[name]
    record = sync_run(phase=state.phase)
    text, blocks = render_sync_summary(run=display_run(record), state=state)
    golden_message(name, text, blocks)
