"""Rendering of `apps`/`app`/`history` and of sync threads: what people read, inside Slack's limits.

Large inputs (387 applications, as one team reported; 100 resources with long messages) must
still render as one message Slack accepts, checked with the Slack stand-in's own block checker.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.applications import AppDetail, AppSummary, HistoryEntry, OperationView
from bot.model import Reply
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
from bot.render.blocks import MAX_TEXT, render_reply
from bot.sandbox.slack.blocks import MAX_COMBINED_BLOCK_TEXT, check_message_blocks, combined_text_length
from bot.tracking.sync_progress import ResourceView, SyncState, SyncTransition

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
SHA = "0123456789abcdef0123456789abcdef01234567"


def summary(index: int = 0, **changes: Any) -> AppSummary:
    values: dict[str, Any] = {
        "name": f"app-{index:03d}",
        "project": "web",
        "cluster": "prod-eu",
        "namespace": "shop",
        "sync_status": "Synced" if index % 5 else "OutOfSync",
        "health_status": "Healthy" if index % 7 else "Degraded",
        "revision": SHA,
        "auto_sync": index % 2 == 0,
        "operation_phase": "Succeeded",
    }
    values.update(changes)
    return AppSummary(**values)


def entry(index: int) -> HistoryEntry:
    return HistoryEntry(
        id=index,
        revision=f"{index:040x}",
        deployed_at=START + timedelta(hours=index),
        repo="https://git.example.com/deploy.git",
        path="apps/shop",
        target_revision=f"v1.{index}.0",
        initiated_by="alice@example.com" if index % 2 else "automated",
    )


def detail(history: int = 3, **changes: Any) -> AppDetail:
    values: dict[str, Any] = {
        "summary": summary(1),
        "repo": "https://git.example.com/deploy.git",
        "path": "apps/shop",
        "target_revision": "main",
        "last_operation": OperationView(
            phase="Failed",
            message="one or more objects failed to apply, reason: <!channel> denied",
            revision=SHA,
            started_at=START,
            finished_at=START + timedelta(seconds=75),
            initiated_by="bob",
        ),
        "history": tuple(entry(i) for i in range(history)),
        "conditions": (),
    }
    values.update(changes)
    return AppDetail(**values)


def resource(index: int, **changes: Any) -> ResourceView:
    values: dict[str, Any] = {
        "kind": "Deployment",
        "namespace": "shop",
        "name": f"web-{index}",
        "status": "Synced",
        "health": "Healthy",
        "message": f"deployment.apps/web-{index} configured",
        "hook_type": "",
        "hook_phase": "Running",
        "sync_phase": "Sync",
        "wave": index % 4 - 1,
    }
    values.update(changes)
    return ResourceView(**values)


def state(phase: str, resources: tuple[ResourceView, ...] = (), **changes: Any) -> SyncState:
    values: dict[str, Any] = {
        "phase": phase,
        "message": "",
        "revision": SHA,
        "started_at": START,
        "finished_at": START + timedelta(minutes=2) if phase in ("Succeeded", "Failed") else None,
        "health": "Progressing" if phase == "Running" else "Healthy",
        "sync_status": "Synced",
        "resources": resources,
    }
    values.update(changes)
    return SyncState(**values)


def run(**changes: Any) -> Run:
    values: dict[str, Any] = {
        "id": "r-5ync",
        "kind": "sync",
        "cluster": "prod-eu",
        "namespace": "argocd",
        "name": "shop-prod",
        "template": None,
        "parameters": {},
        "revision": "v1.6.0",
        "requester_id": "U0ALICE",
        "requester_name": "alice",
        "channel_id": "C0OPS",
        "parent_ts": "1714557600.000100",
        "phase": "Running",
        "progress": "",
        "message": "",
        "created_at": START,
        "updated_at": START,
        "finished_at": None,
        "final_posted": False,
        "resource_version": None,
        "k8s_uid": None,
    }
    values.update(changes)
    return Run(**values)


def assert_slack_accepts(text: str, blocks: list[dict[str, Any]]) -> None:
    assert check_message_blocks(blocks) == []
    assert combined_text_length(blocks) < MAX_COMBINED_BLOCK_TEXT
    assert 0 < len(text) <= MAX_TEXT
    json.dumps(blocks)


def rendered(reply: Reply) -> tuple[str, list[dict[str, Any]]]:
    text, blocks = render_reply(reply)
    assert_slack_accepts(text, blocks)
    return text, blocks


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_387_apps_are_paged_25_at_a_time_with_how_to_narrow() -> None:
    apps = [summary(i) for i in range(387)]
    reply = apps_reply(apps, PageInfo(page=2, cluster="prod-eu", filters=("--project web",)))
    _, blocks = rendered(reply)
    body = all_text(blocks)
    assert "app-025" in body and "app-049" in body
    assert "app-024" not in body and "app-050" not in body
    assert "Page 2 of 16" in body
    assert "--out-of-sync" in body and "--project P" in body
    assert "387 applications" in body and "78 out of sync" in body
    assert reply.title == "applications on prod-eu (--project web)"


def test_a_page_past_the_end_shows_the_last_page() -> None:
    apps = [summary(i) for i in range(30)]
    body = all_text(rendered(apps_reply(apps, PageInfo(page=9)))[1])
    assert "Page 2 of 2" in body and "app-029" in body and "app-004" not in body


def test_no_apps_and_a_short_list() -> None:
    assert "No application matches `--degraded`" in apps_reply([], PageInfo(filters=("--degraded",))).text
    body = all_text(rendered(apps_reply([summary(1)]))[1])
    assert "Page" not in body
    assert "`0123456789`" in body  # a commit is shown short, as Argo CD's UI does


def test_app_reply_shows_state_source_last_operation_and_recent_deploys() -> None:
    reply = app_reply(detail(conditions=("SyncError: <@U1> boom",)))
    body = all_text(rendered(reply)[1])
    assert "Synced" in body and "Healthy" in body and "`prod-eu/shop`" in body
    assert "https://git.example.com/deploy.git apps/shop" in body
    assert "Failed" in body and "by bob" in body and "took 1m 15s" in body
    assert "&lt;!channel&gt;" in body and "<!channel>" not in body  # upstream text cannot ping
    assert "&lt;@U1&gt;" in body
    assert "*2* _(current)_" in body


def test_app_reply_says_auto_sync_blocks_rollbacks() -> None:
    reply = app_reply(detail(summary=summary(0)))
    assert reply.context is not None and "Auto-sync is on" in reply.context


def test_history_is_newest_first_with_ids_revisions_when_and_who() -> None:
    reply = history_reply(detail(history=40))
    rendered(reply)
    lines = reply.text.split("\n")
    assert lines[0].startswith("*39* _(current)_ · `0000000000`")
    assert "(v1.39.0)" in lines[0] and "alice@example.com" in lines[0] and "<!date^" in lines[0]
    assert lines[1].startswith("*38*") and "automated" in lines[1]
    assert lines[-1] == "_…and 20 more._"
    assert "rollback app-001 ID" in (reply.context or "")


def test_history_of_an_app_never_deployed() -> None:
    assert "no deploy history" in history_reply(detail(history=0)).text


def test_a_running_sync_parent() -> None:
    resources = (resource(0), resource(1, status="", hook_phase="Running"))
    text, blocks = render_sync_parent(
        run=run(),
        state=state("Running", resources),
        now=START + timedelta(seconds=42),
        ui_url="https://cd/app/x",
    )
    assert_slack_accepts(text, blocks)
    body = all_text(blocks)
    assert "Running" in body and "1/2" in body and "42s" in body and "<@U0ALICE>" in body
    assert "`0123456789`" in body
    assert "View in Argo CD" in body
    assert text.startswith(":arrows_counterclockwise: sync · shop-prod: Running")


def test_before_the_first_read_the_parent_shows_the_asked_revision() -> None:
    text, blocks = render_sync_parent(run=run(phase="Pending"), state=None, now=START, ui_url=None)
    assert_slack_accepts(text, blocks)
    assert "`v1.6.0`" in all_text(blocks) and "Pending" in text


def test_a_final_result_not_yet_released_reads_as_finishing() -> None:
    pending = state("Succeeded", (resource(0),), operation_pending=True)
    text, _ = render_sync_parent(run=run(), state=pending, now=START, ui_url=None)
    assert "Finishing" in text


@pytest.mark.parametrize(
    ("transition", "expected"),
    [
        (SyncTransition("wave-started", wave=-1, sync_phase="Sync"), ":ocean: wave -1 started"),
        (SyncTransition("wave-started", wave=2, sync_phase="PostSync"), ":ocean: wave 2 of PostSync started"),
        (
            SyncTransition("resource-synced", resource=resource(3)),
            ":white_check_mark: `Deployment/web-3` synced · deployment.apps/web-3 configured",
        ),
        (
            SyncTransition(
                "resource-failed", resource=resource(3, status="SyncFailed", message="denied <b>")
            ),
            ":x: `Deployment/web-3` failed to sync: denied &lt;b&gt;",
        ),
        (
            SyncTransition(
                "hook-started", resource=resource(1, kind="Job", name="migrate", hook_type="PreSync")
            ),
            ":arrow_forward: PreSync hook `Job/migrate` started",
        ),
        (
            SyncTransition("hook-finished", resource=resource(1, kind="Job", name="m", hook_type="PostSync")),
            ":white_check_mark: PostSync hook `Job/m` succeeded",
        ),
        (SyncTransition("finished"), ":checkered_flag: sync finished"),
    ],
)
def test_transition_lines(transition: SyncTransition, expected: str) -> None:
    assert render_sync_transition(transition) == expected


def test_a_transition_line_stays_within_a_section() -> None:
    t = SyncTransition(
        "hook-failed", resource=resource(1, hook_type="PreSync", hook_phase="Failed", message="x" * 9000)
    )
    assert len(render_sync_transition(t)) <= 3000


def test_summary_with_100_resources_fits_and_keeps_the_failures() -> None:
    resources = tuple(
        resource(
            i,
            name=f"very-long-resource-name-{i}-" + "y" * 60,
            status="SyncFailed" if i in (17, 83) else "Synced",
            message=("admission webhook denied the request: " + "z" * 400) if i in (17, 83) else "configured",
        )
        for i in range(100)
    )
    final = state("Failed", resources, message="one or more objects failed to apply, reason: " + "w" * 5000)
    text, blocks = render_sync_summary(run=run(kind="rollback"), state=final)
    assert_slack_accepts(text, blocks)
    body = all_text(blocks)
    assert "web-17" not in body  # the long names replaced the default ones
    assert "very-long-resource-name-17-" in body and "very-long-resource-name-83-" in body
    assert "more not shown" in body
    assert "98/100 resources and hooks done" in body
    assert text.startswith(":x: rollback · shop-prod: failed in 2m 00s")


def test_summary_orders_resources_by_phase_then_wave() -> None:
    resources = (
        resource(
            0, name="post", hook_type="PostSync", sync_phase="PostSync", hook_phase="Succeeded", status=""
        ),
        resource(1, name="late", wave=5),
        resource(2, name="early", wave=-3),
        resource(3, name="pre", hook_type="PreSync", sync_phase="PreSync", hook_phase="Succeeded", status=""),
    )
    _, blocks = render_sync_summary(run=run(), state=state("Succeeded", resources))
    body = all_text(blocks)
    order = [body.index(f"/{name}`") for name in ("pre", "early", "late", "post")]
    assert order == sorted(order)
    assert "wave -3" in body and "PreSync hook Succeeded" in body
