"""The follower on workflows: a real store, the outbox and its deliverer, the Slack stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tracking_world import World, slack_world

from bot.records import Run
from bot.store.repos import RunRepo
from bot.tracking.follower import LABEL_RUN_ID, Follower, WorkflowPart

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path) as world:
        yield world


def _tracker(world: World) -> Follower:
    return world.follower([WorkflowPart(links=None, ui_urls={})], clock=lambda: NOW)


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


def _texts(world: World) -> list[str]:
    return [m.get("text", "") for m in world.channel()]


def test_a_run_gets_one_parent_its_step_replies_and_one_summary(world: World) -> None:
    tracker = _tracker(world)
    run = tracker.follow(_run(world.runs))  # returns at once: the parent is only enqueued
    assert run.parent_ts is None
    tracker.on_workflow("dev", _workflow(run, "Running", {"build": "Running"}))
    tracker.on_workflow("dev", _workflow(run, "Running", {"build": "Running"}))  # no change: quiet
    tracker.on_workflow("dev", _workflow(run, "Succeeded", {"build": "Succeeded"}))
    world.settle()
    [parent] = world.channel()
    assert "Succeeded" in parent["text"]
    replies = world.thread(parent["ts"])
    assert len(replies) == 3
    assert "step `build` started" in replies[0] and "step `build` succeeded" in replies[1]
    assert "hello-abcde: succeeded" in replies[2]
    stored = world.runs.get(run.id)
    assert stored is not None and stored.final_posted and stored.parent_ts == parent["ts"]
    posts = [c for c in world.driver.calls() if c["method"] == "chat.postMessage"]
    assert len(posts) == 4  # the parent and three replies, each once


def test_events_before_the_parent_wait_in_the_outbox_not_in_memory(world: World) -> None:
    tracker = _tracker(world)
    run = _run(world.runs)
    tracker.on_workflow("dev", _workflow(run, "Running", {"build": "Running"}))  # before `follow`
    tracker.follow(run)
    world.settle()
    [parent] = world.channel()
    assert ["step `build` started" in r for r in world.thread(parent["ts"])] == [True]


def test_after_a_restart_the_thread_continues_and_nothing_is_posted_twice(world: World) -> None:
    first = _tracker(world)
    run = first.follow(_run(world.runs))
    first.on_workflow("dev", _workflow(run, "Running", {"build": "Running", "test": "Pending"}))
    world.settle()
    # the process restarts: a new follower sees the run again from the watch's first list
    second = _tracker(world)
    second.on_workflow("dev", _workflow(run, "Running", {"build": "Succeeded", "test": "Running"}))
    second.on_workflow("dev", _workflow(run, "Succeeded", {"build": "Succeeded", "test": "Succeeded"}))
    third = _tracker(world)  # and once more, after the end: a re-list of a finished run is quiet
    third.on_workflow("dev", _workflow(run, "Succeeded", {"build": "Succeeded", "test": "Succeeded"}))
    world.settle()
    [parent] = world.channel()
    replies = world.thread(parent["ts"])
    assert sum("step `build` started" in r for r in replies) == 1
    assert sum("step `build` succeeded" in r for r in replies) == 1
    assert sum("step `test` succeeded" in r for r in replies) == 1
    assert sum("hello-abcde: succeeded" in r for r in replies) == 1
    assert "hello-abcde: succeeded" in replies[-1]
    assert "Succeeded" in parent["text"]


def test_workflows_the_bot_did_not_start_are_ignored(world: World) -> None:
    tracker = _tracker(world)
    tracker.on_workflow("dev", {"metadata": {"name": "someone-elses"}, "status": {"phase": "Running"}})
    tracker.on_workflow(
        "dev", {"metadata": {"labels": {LABEL_RUN_ID: "f" * 32}}, "status": {"phase": "Running"}}
    )
    assert world.repo.backlog() == (0, None)
    assert _texts(world) == []
