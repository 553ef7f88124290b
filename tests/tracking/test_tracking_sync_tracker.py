"""The follower on Argo CD syncs: a real store, the outbox and its deliverer, the Slack stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tracking_world import World, slack_world

from bot.records import Run
from bot.store.repos import RunRepo
from bot.tracking.follower import Follower, SyncPart
from bot.tracking.sync_tracker import operation_info

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path) as world:
        yield world


def _tracker(world: World) -> Follower:
    return world.follower([SyncPart(ui_urls={"dev": "https://argocd.example.com"})], clock=lambda: NOW)


def _run(runs: RunRepo, app: str = "shop-prod") -> Run:
    run = runs.create(
        kind="sync",
        cluster="dev",
        namespace="argocd",
        requester_id="U1",
        channel_id="C1",
        now=NOW,
        template=app,
        revision="v1.6.0",
        parameters={"destination": "prod"},
    )
    return runs.update_progress(run.id, now=NOW, name=f"{app}@{run.id[:8]}")


def _resource(kind: str, name: str, status: str = "", **extra: str) -> dict[str, Any]:
    return {"kind": kind, "name": name, "namespace": "shop", "status": status, **extra}


def _app(
    run: Run | None,
    *,
    phase: str | None,
    resources: list[dict[str, Any]] = (),  # type: ignore[assignment]
    operation: bool = True,
    name: str = "shop-prod",
) -> dict[str, Any]:
    """An Application as Argo CD shows it while (or after) running the run's operation."""
    asked = {
        "sync": {"revision": "v1.6.0", "prune": False, "dryRun": False, "syncStrategy": {"hook": {}}},
        "initiatedBy": {"username": "alice@example.com", "automated": False},
    }
    if run is not None:
        asked["info"] = [{"name": n, "value": v} for n, v in operation_info(run.id)]
    app: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {"project": "default", "destination": {"name": "prod", "namespace": "shop"}},
        "status": {"health": {"status": "Healthy" if phase == "Succeeded" else "Progressing"}},
    }
    if operation:
        app["operation"] = asked
    if phase is not None:
        state: dict[str, Any] = {
            "operation": asked,
            "phase": phase,
            "message": "successfully synced (all tasks run)" if phase == "Succeeded" else "",
            "startedAt": "2026-11-22T12:00:00Z",
            "syncResult": {"revision": "a" * 40, "resources": list(resources)},
        }
        if phase in ("Succeeded", "Failed"):
            state["finishedAt"] = "2026-11-22T12:00:30Z"
        app["status"]["operationState"] = state
    return app


RUNNING = [_resource("ConfigMap", "shop-config", "Synced")]
DONE = [_resource("ConfigMap", "shop-config", "Synced"), _resource("Deployment", "shop", "Synced")]


def test_a_sync_gets_one_parent_thread_replies_and_one_summary_only_once_operation_is_gone(
    world: World,
) -> None:
    tracker = _tracker(world)
    run = tracker.start_sync(_run(world.runs))
    tracker.on_application("dev", _app(run, phase=None))  # written, not picked up yet
    tracker.on_application("dev", _app(run, phase="Running", resources=RUNNING))
    tracker.on_application("dev", _app(run, phase="Succeeded", resources=DONE))  # operation still set
    world.settle()
    [parent] = world.channel()
    assert "sync · shop-prod" in parent["text"]
    assert not any("succeeded" in r.lower() for r in world.thread(parent["ts"]))
    assert world.runs.get(run.id).phase == "Running"  # type: ignore[union-attr]
    tracker.on_application("dev", _app(run, phase="Succeeded", resources=DONE, operation=False))
    tracker.on_application("dev", _app(run, phase="Succeeded", resources=DONE, operation=False))
    world.settle()
    [parent] = world.channel()
    replies = world.thread(parent["ts"])
    assert any("ConfigMap/shop-config" in r for r in replies)
    assert any("Deployment/shop" in r for r in replies)
    assert sum("shop-prod: succeeded" in r for r in replies) == 1
    assert "Succeeded" in parent["text"]
    shown = str(parent["blocks"])
    assert "prod / shop-prod" in shown  # the destination and the app, not the stored run name
    assert "https://argocd.example.com/applications/argocd/shop-prod" in shown
    stored = world.runs.get(run.id)
    assert stored is not None and stored.final_posted and stored.phase == "Succeeded"


def test_events_before_the_parent_wait_in_the_outbox(world: World) -> None:
    tracker = _tracker(world)
    run = _run(world.runs)
    tracker.on_application("dev", _app(run, phase="Running", resources=RUNNING))
    tracker.start_sync(run)
    world.settle()
    [parent] = world.channel()
    assert "ConfigMap/shop-config" in world.thread(parent["ts"])[-1]


def test_a_new_leader_finishes_a_sync_another_replica_started_without_replaying_the_thread(
    world: World,
) -> None:
    first = _tracker(world)
    run = first.start_sync(_run(world.runs))
    first.on_application("dev", _app(run, phase="Running", resources=RUNNING))
    world.settle()
    [parent] = world.channel()
    said = world.thread(parent["ts"])
    leader = _tracker(world)
    assert leader.resume() == 1
    leader.on_application("dev", _app(run, phase="Running", resources=RUNNING))
    world.settle()
    assert world.thread(parent["ts"]) == said  # no replay of what the first replica already said
    leader.on_application("dev", _app(run, phase="Succeeded", resources=DONE, operation=False))
    _tracker(world).on_application("dev", _app(run, phase="Succeeded", resources=DONE, operation=False))
    world.settle()
    replies = world.thread(parent["ts"])
    assert replies[: len(said)] == said
    assert sum("shop-prod: succeeded" in r for r in replies) == 1
    assert len(world.channel()) == 1


def test_runs_without_the_marker_are_found_by_app_and_others_are_ignored(world: World) -> None:
    tracker = _tracker(world)
    run = tracker.start_sync(_run(world.runs, app="billing-prod"))
    tracker.on_application("dev", _app(None, phase="Running", resources=RUNNING, name="billing-prod"))
    # an app nobody asked the bot to sync, and a marked run of another host
    tracker.on_application("dev", _app(None, phase="Running", resources=RUNNING))
    world.settle()
    assert world.runs.get(run.id).phase == "Running"  # type: ignore[union-attr]  # found through the app
    [parent] = world.channel()
    assert "Running" in parent["text"] or "running" in parent["text"]
    assert len(world.thread(parent["ts"])) >= 1


def test_a_late_event_of_the_previous_operation_does_not_end_a_new_run(world: World) -> None:
    # the watch delivers, after the run exists, the app as it was before the bot wrote its
    # operation: the last sync (no marker of this run) ended before the run was created
    tracker = _tracker(world)
    later = datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
    run = world.runs.create(
        kind="sync",
        cluster="dev",
        namespace="argocd",
        requester_id="U1",
        channel_id="C1",
        now=later,
        template="billing-prod",
        revision="v1.6.0",
        parameters={"destination": "prod"},
    )
    tracker.start_sync(run)
    previous = _app(None, phase="Succeeded", resources=DONE, operation=False, name="billing-prod")
    tracker.on_application("dev", previous)
    world.settle()
    assert world.runs.get(run.id).phase != "Succeeded"  # type: ignore[union-attr]
    [parent] = world.channel()
    assert world.thread(parent["ts"]) == []  # nothing said from the previous operation

    current = _app(None, phase="Succeeded", resources=DONE, operation=False, name="billing-prod")
    current["status"]["operationState"]["finishedAt"] = "2026-11-22T12:05:40Z"
    tracker.on_application("dev", current)
    world.settle()
    assert world.runs.get(run.id).phase == "Succeeded"  # type: ignore[union-attr]


def test_a_failed_sync_ends_failed_with_the_failing_resource_in_the_summary(world: World) -> None:
    tracker = _tracker(world)
    run = tracker.start_sync(_run(world.runs))
    failed = [_resource("Deployment", "shop", "SyncFailed", message="admission webhook denied")]
    app = _app(run, phase="Failed", resources=failed, operation=False)
    app["status"]["operationState"]["message"] = "one or more objects failed to apply"
    tracker.on_application("dev", app)
    world.settle()
    [parent] = world.channel()
    replies = world.thread(parent["ts"])
    assert any("Deployment/shop" in r and "failed" in r for r in replies)
    assert sum("shop-prod: failed" in r for r in replies) == 1
    assert world.runs.get(run.id).phase == "Failed"  # type: ignore[union-attr]
