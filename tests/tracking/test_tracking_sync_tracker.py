"""The sync tracker against a real run store (SQLite, migrated) and a recording sender (a Protocol fake)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tracking_fakes import RecordingSender

from bot.store import db as store_db
from bot.store.records import Run
from bot.store.repos import RunRepo
from bot.tracking.sync_tracker import SyncTracker, operation_info

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[RunRepo]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store_db.upgrade(url)
    database = store_db.connect(url)
    yield RunRepo(database)
    database.dispose()


def _tracker(runs: RunRepo, sender: RecordingSender) -> SyncTracker:
    return SyncTracker(
        runs=runs, sender=sender, ui_urls={"dev": "https://argocd.example.com"}, clock=lambda: NOW
    )


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
    runs: RunRepo,
) -> None:
    sender = RecordingSender()
    tracker = _tracker(runs, sender)
    run = tracker.start_sync(_run(runs))
    parent = sender.posts[0]
    assert parent["thread_ts"] is None and "sync · shop-prod" in parent["text"]
    tracker.on_application("dev", _app(run, phase=None))  # written, not picked up yet
    tracker.on_application("dev", _app(run, phase="Running", resources=RUNNING))
    tracker.on_application("dev", _app(run, phase="Succeeded", resources=DONE))  # operation still set
    assert not any("succeeded" in r.lower() for r in sender.replies())
    assert runs.get(run.id).phase == "Running"  # type: ignore[union-attr]
    tracker.on_application("dev", _app(run, phase="Succeeded", resources=DONE, operation=False))
    tracker.on_application("dev", _app(run, phase="Succeeded", resources=DONE, operation=False))
    replies = sender.replies()
    assert all(p["thread_ts"] == parent["ts"] for p in sender.posts[1:])
    assert any("ConfigMap/shop-config" in r for r in replies)
    assert any("Deployment/shop" in r for r in replies)
    assert sum("shop-prod: succeeded" in r for r in replies) == 1
    final = sender.updates[-1]
    assert final["ts"] == parent["ts"] and "Succeeded" in final["text"]
    shown = str(final["blocks"])
    assert "prod / shop-prod" in shown  # the destination and the app, not the stored run name
    assert "https://argocd.example.com/applications/argocd/shop-prod" in shown
    stored = runs.get(run.id)
    assert stored is not None and stored.final_posted and stored.phase == "Succeeded"


def test_events_before_the_parent_are_applied_after_it(runs: RunRepo) -> None:
    sender = RecordingSender()
    tracker = _tracker(runs, sender)
    run = _run(runs)
    tracker.on_application("dev", _app(run, phase="Running", resources=RUNNING))
    assert sender.posts == [] and sender.updates == []
    tracker.start_sync(run)
    assert [p["thread_ts"] for p in sender.posts] == [None, sender.posts[0]["ts"], sender.posts[0]["ts"]]
    assert "ConfigMap/shop-config" in sender.replies()[-1]


def test_a_new_leader_finishes_a_sync_another_replica_started_without_replaying_the_thread(
    runs: RunRepo,
) -> None:
    first = _tracker(runs, RecordingSender())
    run = first.start_sync(_run(runs))
    first.on_application("dev", _app(run, phase="Running", resources=RUNNING))
    sender = RecordingSender()
    leader = _tracker(runs, sender)
    assert leader.resume() == 1
    leader.on_application("dev", _app(run, phase="Running", resources=RUNNING))
    assert sender.replies() == []  # no replay of what the first replica already said
    leader.on_application("dev", _app(run, phase="Succeeded", resources=DONE, operation=False))
    assert sum("shop-prod: succeeded" in r for r in sender.replies()) == 1
    third = RecordingSender()
    _tracker(runs, third).on_application("dev", _app(run, phase="Succeeded", resources=DONE, operation=False))
    assert third.posts == [] and third.updates == []  # a re-list of a finished sync is quiet


def test_runs_without_the_marker_are_found_by_app_and_others_are_ignored(runs: RunRepo) -> None:
    sender = RecordingSender()
    tracker = _tracker(runs, sender)
    run = tracker.start_sync(_run(runs, app="billing-prod"))
    tracker.on_application("dev", _app(None, phase="Running", resources=RUNNING, name="billing-prod"))
    assert len(sender.updates) == 1  # found through the active run of billing-prod
    # an app nobody asked the bot to sync; a marked run whose parent is not posted yet waits
    tracker.on_application("dev", _app(None, phase="Running", resources=RUNNING))
    ghost = _run(runs)
    tracker.on_application("prod", _app(ghost, phase="Running", resources=RUNNING, name="unknown"))
    assert len(sender.updates) == 1
    assert [p["thread_ts"] for p in sender.posts[1:]] == [sender.posts[0]["ts"]] * (len(sender.posts) - 1)
    assert runs.get(run.id).phase == "Running"  # type: ignore[union-attr]


def test_a_failed_sync_ends_failed_with_the_failing_resource_in_the_summary(runs: RunRepo) -> None:
    sender = RecordingSender()
    tracker = _tracker(runs, sender)
    run = tracker.start_sync(_run(runs))
    failed = [_resource("Deployment", "shop", "SyncFailed", message="admission webhook denied")]
    app = _app(run, phase="Failed", resources=failed, operation=False)
    app["status"]["operationState"]["message"] = "one or more objects failed to apply"
    tracker.on_application("dev", app)
    replies = sender.replies()
    assert any("Deployment/shop" in r and "failed" in r for r in replies)
    assert sum("shop-prod: failed" in r for r in replies) == 1
    assert runs.get(run.id).phase == "Failed"  # type: ignore[union-attr]
