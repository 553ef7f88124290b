"""`BotReportSources` against the real store on SQLite and the sandbox cluster (Kubernetes API,
Argo's workflow and application controllers, moto S3), through the bot's own clients.

Asserted as people see it: the digest and health posts the schedule service builds from these
sources, the Workflow a `run` schedule leaves on the cluster, and the log a digest links to.
"""

from __future__ import annotations

import urllib.request
from datetime import timedelta
from typing import Any, cast

from kubernetes import client
from schedules_fakes import NOW, RecordingSender, ServiceFactory
from sources_world import (
    TOKEN,
    RecordingTracker,
    app_controller,
    approval_repo,
    archive,
    aws,
    bot_sources,
    bucket,
    kube,
    no_thread_left_behind,
    registry,
    run_repo,
    tracker,
    workflow_controller,
)

from bot import records
from bot.actions.launcher import Launcher, Plan
from bot.argo import workflows
from bot.clusters.registry import ClusterRegistry
from bot.config import ScheduleSettings
from bot.sandbox.argo import ApplicationController, WorkflowController
from bot.sandbox.argo.samples import seed_applications
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until
from bot.schedules.sources import BotReportSources
from bot.store.repos import ApprovalRepo, RunRepo

__all__ = [  # fixtures imported from sources_world, named so linters keep the imports
    "app_controller",
    "approval_repo",
    "archive",
    "aws",
    "bot_sources",
    "bucket",
    "kube",
    "no_thread_left_behind",
    "registry",
    "run_repo",
    "tracker",
    "workflow_controller",
]

G, V = "argoproj.io", "v1alpha1"


def _workflow(kube: KubeApiServer, name: str) -> dict[str, Any]:
    api_client = build_api_client(url=kube.url, token=TOKEN)
    try:
        api = client.CustomObjectsApi(api_client)
        return cast(dict[str, Any], api.get_namespaced_custom_object(G, V, "argo", "workflows", name))
    finally:
        api_client.close()  # type: ignore[no-untyped-call]


def _wait_phase(kube: KubeApiServer, name: str, phase: str) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        workflow = _workflow(kube, name)
        return workflow if workflow.get("status", {}).get("phase") == phase else None

    return wait_until(
        reached,
        timeout=20,
        message=f"workflow {name} to reach {phase}",
    )


def _launch(registry: ClusterRegistry, runs: RunRepo, tracker: RecordingTracker, template: str) -> str:
    """Start a workflow run the way every entry point does (the launcher); returns its name."""
    api = registry.api_client("dev")
    plan = Plan(kind=records.RUN_WORKFLOW, cluster="dev", namespace="argo", requester_id="U1",
                requester_name="alice", channel_id="C0OPS0002", template=template)  # fmt: skip

    def act(run: records.Run) -> str:
        labels = {workflows.LABEL_RUN_ID: run.id}
        ref = workflows.submit_workflow(
            api, namespace="argo", template=template, parameters={}, labels=labels, annotations={}
        )
        return ref.name

    run = Launcher(runs=runs, follower=tracker).launch(plan, act, on_written=lambda run: None)
    return run.name or ""


def test_digest_counts_the_window_and_reminder_lists_live_approvals(
    make_service: ServiceFactory,
    sender: RecordingSender,
    bot_sources: BotReportSources,
    run_repo: RunRepo,
    approval_repo: ApprovalRepo,
) -> None:
    for index, (phase, age) in enumerate([("Succeeded", 2), ("Succeeded", 5), ("Failed", 30)]):
        run = run_repo.create(
            kind=records.RUN_WORKFLOW, cluster="dev", namespace="argo", requester_id="U1",
            channel_id="C1", now=NOW - timedelta(hours=age), requester_name="alice", template="hello",
        )  # fmt: skip
        run_repo.update_progress(run.id, now=NOW, phase=phase, name=f"hello-{index}")
    run_repo.create(
        kind=records.RUN_SYNC, cluster="dev", namespace="argocd", requester_id="U1", channel_id="C1", now=NOW
    )
    for app, minutes in (("shop", 20), ("billing", -5)):
        approval_repo.create(
            action="rollback", cluster="dev", app=app, requester_id="U2", channel_id="C1",
            expires_at=NOW + timedelta(minutes=minutes), now=NOW - timedelta(hours=1), requester_name="bob",
        )  # fmt: skip
    service = make_service(sources=bot_sources)

    service.fire_now("morning-digest")
    bot_sources_approvals = bot_sources.pending_approvals(NOW)

    (post,) = sender.snapshot()
    assert post.text.startswith("Workflow digest: last 24h")
    assert "2 workflow run(s)" in post.text and "Succeeded: *2*" in post.text
    assert "Failed" not in post.text  # the failed run is 30 h old, outside the window
    assert [approval.app for approval in bot_sources_approvals] == ["shop"]  # billing's has expired


def test_health_lists_apps_of_every_argo_cd_by_destination(
    make_service: ServiceFactory,
    sender: RecordingSender,
    bot_sources: BotReportSources,
    kube: KubeApiServer,
    app_controller: ApplicationController,
) -> None:
    seed_applications(
        url=kube.url, token=TOKEN, clusters=("dev", "prod"), controller=app_controller, timeout=30
    )
    health = ScheduleSettings(name="health", kind="app-health", cron="0 9 * * *", channel="C0OPS0003")
    prod_only = ScheduleSettings(
        name="prod-health", kind="app-health", cron="0 9 * * *", channel="C0OPS0003", cluster="prod"
    )
    service = make_service(sources=bot_sources, settings_schedules=(health, prod_only))

    every = bot_sources.app_health(None)
    prod = bot_sources.app_health("prod")
    service.fire_now("prod-health")

    assert sorted((app.name, app.cluster) for app in every) == [
        ("billing-dev", "dev"), ("billing-prod", "prod"), ("shop-dev", "dev"), ("shop-prod", "prod"),
    ]  # fmt: skip
    assert sorted(app.name for app in prod) == ["billing-prod", "shop-prod"]
    assert all(app.sync_status == "Synced" and app.health_status == "Healthy" for app in every)
    (post,) = sender.snapshot()
    assert "All 2 application(s) are Synced and Healthy (prod)" in post.text


def test_log_link_opens_the_failed_steps_log(
    bot_sources: BotReportSources,
    run_repo: RunRepo,
    kube: KubeApiServer,
    workflow_controller: WorkflowController,
    registry: ClusterRegistry,
    tracker: RecordingTracker,
) -> None:
    failing = _launch(registry, run_repo, tracker, "db-migration")
    passing = _launch(registry, run_repo, tracker, "hello")
    _wait_phase(kube, failing, "Failed")
    _wait_phase(kube, passing, "Succeeded")
    runs = {run.name: run for run in run_repo.recent()}
    # The tracker records the final phase; here the test does, as the tracker would.
    failed = run_repo.update_progress(runs[failing].id, now=NOW, phase="Failed")
    succeeded = run_repo.update_progress(runs[passing].id, now=NOW, phase="Succeeded")

    link = bot_sources.log_link(failed)

    assert link is not None
    with urllib.request.urlopen(link, timeout=10) as answer:  # a presigned URL to the local moto
        log = answer.read().decode()
        content_type = answer.headers["Content-Type"]
    assert content_type == "text/plain; charset=utf-8"  # opens as text in a browser tab
    assert "violates foreign key constraint" in log
    assert bot_sources.log_link(succeeded) is None
