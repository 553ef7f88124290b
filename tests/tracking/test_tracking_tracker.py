"""The tracker against a real run store (SQLite, migrated) and a recording sender (a fake of its Protocol)."""

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
from bot.tracking.tracker import LABEL_RUN_ID, Tracker

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[RunRepo]:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store_db.upgrade(url)
    database = store_db.connect(url)
    yield RunRepo(database)
    database.dispose()


def _tracker(runs: RunRepo, sender: RecordingSender) -> Tracker:
    return Tracker(runs=runs, sender=sender, links=None, ui_urls={}, clock=lambda: NOW)


def _run(runs: RunRepo) -> Run:
    run = runs.create(
        kind="workflow",
        cluster="dev",
        namespace="argo",
        requester_id="U1",
        channel_id="C1",
        now=NOW,
        template="hello",
    )
    return runs.update_progress(run.id, now=NOW, name="hello-abcde")


def _workflow(run: Run, phase: str, steps: dict[str, str]) -> dict[str, Any]:
    nodes = {
        f"n{i}": {
            "id": f"n{i}",
            "displayName": name,
            "type": "Pod",
            "phase": step_phase,
            "startedAt": f"2026-11-22T12:00:0{i}Z",
            **(
                {"finishedAt": f"2026-11-22T12:00:0{i + 1}Z"} if step_phase in ("Succeeded", "Failed") else {}
            ),
        }
        for i, (name, step_phase) in enumerate(steps.items())
    }
    done = sum(p == "Succeeded" for p in steps.values())
    status: dict[str, Any] = {"phase": phase, "progress": f"{done}/{len(steps)}", "nodes": nodes}
    if phase in ("Succeeded", "Failed"):
        status["finishedAt"] = "2026-11-22T12:00:09Z"
    return {"metadata": {"name": run.name, "labels": {LABEL_RUN_ID: run.id}}, "status": status}


def test_events_before_the_parent_are_applied_after_it(runs: RunRepo) -> None:
    sender = RecordingSender()
    tracker = _tracker(runs, sender)
    run = _run(runs)
    tracker.on_workflow("dev", _workflow(run, "Running", {"build": "Running"}))
    assert sender.posts == []  # nothing may reach the thread before its parent exists
    tracker.start_run(run)
    assert [p["thread_ts"] for p in sender.posts] == [None, sender.posts[0]["ts"]]
    assert "step `build` started" in sender.replies()[0]


def test_a_run_finishing_before_another_replica_posted_its_parent_still_gets_its_summary(
    runs: RunRepo,
) -> None:
    leader_sender = RecordingSender()
    leader = _tracker(runs, leader_sender)
    run = _run(runs)
    leader.on_workflow("dev", _workflow(run, "Succeeded", {"build": "Succeeded"}))  # parent not posted yet
    runs.set_parent(run.id, parent_ts="1700000000.999999", now=NOW)  # the other replica posts it
    leader.retry_early()
    summaries = [t for t in leader_sender.replies() if "succeeded" in t.lower() and "step" not in t]
    assert len(summaries) == 1
    assert runs.get(run.id).final_posted  # type: ignore[union-attr]


def test_after_a_restart_nothing_is_posted_twice(runs: RunRepo) -> None:
    first_sender = RecordingSender()
    first = _tracker(runs, first_sender)
    run = first.start_run(_run(runs))
    first.on_workflow("dev", _workflow(run, "Running", {"build": "Running"}))
    # the process restarts: a new tracker sees the same run again, then its end
    second_sender = RecordingSender()
    second = _tracker(runs, second_sender)
    second.on_workflow("dev", _workflow(run, "Running", {"build": "Running"}))
    assert second_sender.replies() == []  # no replay of "build started"
    second.on_workflow("dev", _workflow(run, "Succeeded", {"build": "Succeeded"}))
    third_sender = RecordingSender()
    _tracker(runs, third_sender).on_workflow("dev", _workflow(run, "Succeeded", {"build": "Succeeded"}))
    replies = second_sender.replies()
    assert not any("started" in r for r in replies)
    assert sum("hello-abcde: succeeded" in r for r in replies) == 1  # the summary, once
    assert third_sender.posts == [] and third_sender.updates == []  # a re-list of a finished run is quiet


def test_workflows_the_bot_did_not_start_are_ignored(runs: RunRepo) -> None:
    sender = RecordingSender()
    tracker = _tracker(runs, sender)
    tracker.on_workflow("dev", {"metadata": {"name": "someone-elses"}, "status": {"phase": "Running"}})
    tracker.on_workflow(
        "dev", {"metadata": {"labels": {LABEL_RUN_ID: "f" * 32}}, "status": {"phase": "Running"}}
    )
    assert sender.posts == [] and sender.updates == []
