"""Rollout runs: the pure reading (`rollout_state.followed` / `events`) and the follower's
`on_rollout` over a real store, the outbox and the Slack stand-in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tracking_world import World, slack_world

from bot.argo import rollout_state
from bot.argo.rollout_state import RUN_ID_ANNOTATION, Asked, followed
from bot.records import RUN_ROLLOUT, Run
from bot.sandbox.waiting import wait_until
from bot.store.repos import RunRepo
from bot.tracking.follower import Follower
from bot.tracking.rollout_part import RolloutPart

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 50},
    {"analysis": {"templates": [{"templateName": "success-rate"}]}},
]


def _rollout(
    *,
    step: int,
    phase: str,
    run_id: str | None = None,
    weight: int | None = None,
    paused: bool = False,
    abort: bool = False,
    aborted_at: str | None = None,
    pod_hash: str = "new",
    analysis: dict[str, str] | None = None,
    name: str = "shop",
) -> dict[str, Any]:
    status: dict[str, Any] = {"currentStepIndex": step, "phase": phase, "currentPodHash": pod_hash}
    canary: dict[str, Any] = {}
    if weight is not None:
        canary["weights"] = {"canary": {"weight": weight}}
    if analysis is not None:
        canary["currentStepAnalysisRunStatus"] = analysis
    status["canary"] = canary
    if paused:
        status["pauseConditions"] = [{"reason": "CanaryPauseStep"}]
    if abort:
        status["abort"] = True
        status["message"] = "RolloutAborted: Rollout aborted update to revision 2"
    if aborted_at:
        status["abortedAt"] = aborted_at
    annotations = {"rollout.argoproj.io/revision": "2"}
    if run_id is not None:
        annotations[RUN_ID_ANNOTATION] = run_id
    return {
        "metadata": {"name": name, "namespace": "web", "annotations": annotations},
        "spec": {"strategy": {"canary": {"steps": STEPS}}},
        "status": status,
    }


def _asked(action: str, *, step: int = 1, pod_hash: str = "new", aborted_at: str = "") -> Asked:
    return Asked(run_id="r1", action=action, step=step, pod_hash=pod_hash, aborted_at=aborted_at)


# -- the pure reading ----------------------------------------------------------------------------


def test_the_rollout_as_it_was_before_the_controller_acted_is_neither_news_nor_an_end() -> None:
    promote = followed(_rollout(step=1, phase="Paused", paused=True, run_id="r1"), _asked("promote"))
    abort = followed(_rollout(step=1, phase="Paused", abort=True, run_id="r1"), _asked("abort"))
    retry = followed(
        _rollout(step=0, phase="Degraded", aborted_at="t1", run_id="r1"), _asked("retry", aborted_at="t1")
    )
    undo = followed(_rollout(step=4, phase="Healthy", run_id="r1"), _asked("undo", step=4))

    for state in (promote, abort, retry, undo):
        assert state.outcome is None and rollout_state.events(None, state) == [], state
    assert not promote.taken_up and not retry.taken_up and not undo.taken_up


def test_each_action_ends_where_its_work_is_done() -> None:
    healthy = followed(_rollout(step=4, phase="Healthy", weight=100, run_id="r1"), _asked("promote"))
    aborted = followed(_rollout(step=0, phase="Degraded", weight=0, abort=True, run_id="r1"), _asked("abort"))
    failed = followed(
        _rollout(step=0, phase="Degraded", weight=0, abort=True, run_id="r1"), _asked("promote")
    )
    paused = followed(
        _rollout(step=1, phase="Paused", paused=True, run_id="r1", pod_hash="old"),
        _asked("undo", pod_hash="new"),
    )
    other = followed(_rollout(step=2, phase="Progressing", run_id="r2"), _asked("promote"))

    assert (healthy.outcome, healthy.succeeded) == (rollout_state.OUTCOME_HEALTHY, True)
    assert (aborted.outcome, aborted.succeeded) == (rollout_state.OUTCOME_ABORTED, True)
    assert (failed.outcome, failed.succeeded) == (rollout_state.OUTCOME_ABORTED, False)
    assert (paused.outcome, paused.succeeded) == (rollout_state.OUTCOME_PAUSED, True)
    assert other.outcome == rollout_state.OUTCOME_SUPERSEDED
    assert followed(_rollout(step=2, phase="Progressing", run_id="r1"), _asked("promote")).outcome is None


def test_replies_name_the_step_reached_and_a_passed_analysis_once_each() -> None:
    asked = _asked("promote")
    at_weight = followed(_rollout(step=2, phase="Progressing", weight=50, run_id="r1"), asked)
    running = {"name": "shop-new-2-3", "status": "Running"}
    analysing = followed(
        _rollout(step=3, phase="Progressing", weight=50, analysis=running, run_id="r1"), asked
    )
    done = followed(_rollout(step=4, phase="Healthy", weight=100, run_id="r1"), asked)

    first = rollout_state.events(None, at_weight)
    second = rollout_state.events(at_weight, analysing)
    third = rollout_state.events(analysing, done)

    assert [(e.kind, e.label) for e in first] == [("step", "setWeight 50")]
    assert [(e.kind, e.label) for e in second] == [("step", "analysis success-rate")]
    assert [(e.kind, e.label, e.analysis and e.analysis.status) for e in third] == [
        ("analysis", "success-rate", "Successful")
    ]
    # a new leader reads the same state from nothing: the same reply, so the same outbox key
    assert rollout_state.events(None, analysing) == second
    assert rollout_state.events(analysing, analysing) == []


def test_a_failed_analysis_is_said_and_a_stale_one_is_not() -> None:
    failed = {"name": "shop-new-2-3", "status": "Failed", "message": "error rate 12% > 5%"}
    aborted = followed(
        _rollout(step=0, phase="Degraded", weight=0, abort=True, analysis=failed, run_id="r1"),
        _asked("promote"),
    )
    retried = followed(
        _rollout(step=0, phase="Progressing", weight=20, analysis=failed, run_id="r1"),
        _asked("retry", step=0, aborted_at="t1"),
    )

    [event] = rollout_state.events(None, aborted)
    assert (event.kind, event.label, event.analysis and event.analysis.message) == (
        "analysis",
        "success-rate",
        "error rate 12% > 5%",
    )
    assert [e.kind for e in rollout_state.events(None, retried)] == ["step"]


# -- the follower --------------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path) as world:
        yield world


def _follower(world: World) -> Follower:
    return world.follower([RolloutPart()], clock=lambda: NOW)


def _run(runs: RunRepo, action: str, *, rollout: str = "shop") -> Run:
    parameters = rollout_state.asked_parameters(_rollout(step=1, phase="Paused", paused=True), action=action)
    run = runs.create(
        kind=RUN_ROLLOUT,
        cluster="dev",
        namespace="web",
        requester_id="U1",
        channel_id="C1",
        now=NOW,
        template=rollout,
        parameters=parameters,
    )
    return runs.update_progress(run.id, now=NOW, name=f"{rollout}@{run.id[:8]}")


def _final(world: World, run_id: str) -> Run:
    def done() -> Run | None:
        run = world.runs.get(run_id)
        return run if run is not None and run.final_posted else None

    found: Run = wait_until(done, timeout=10, message=f"run {run_id} to end")
    return found


def test_a_run_whose_rollout_another_command_took_over_ends_saying_so(world: World) -> None:
    follower = _follower(world)
    promote = follower.follow(_run(world.runs, "promote"))
    follower.on_rollout("dev", _rollout(step=2, phase="Progressing", weight=50, run_id=promote.id))
    abort = follower.follow(_run(world.runs, "abort"))

    follower.on_rollout("dev", _rollout(step=0, phase="Degraded", weight=0, abort=True, run_id=abort.id))

    taken_over, aborted = _final(world, promote.id), _final(world, abort.id)
    assert (taken_over.phase, aborted.phase) == ("Superseded", "Succeeded")
    world.settle()
    first = world.runs.get(promote.id)
    assert first is not None and first.parent_ts is not None
    thread = world.thread(first.parent_ts)
    assert "step 3/4: setWeight 50" in thread[0]
    assert f"Another command on `shop` (run `{abort.id}`) took it over" in thread[-1]
    assert len(thread) == 2


def test_the_run_id_on_another_rollout_is_not_the_runs_news(world: World) -> None:
    follower = _follower(world)
    run = follower.follow(_run(world.runs, "promote"))

    follower.on_rollout("dev", _rollout(step=4, phase="Healthy", weight=100, run_id=run.id, name="copy"))
    follower.on_rollout("prod", _rollout(step=4, phase="Healthy", weight=100, run_id=run.id))

    stored = world.runs.get(run.id)
    assert stored is not None and not stored.final_posted and stored.phase == "Pending"
    follower.on_rollout("dev", _rollout(step=4, phase="Healthy", weight=100, run_id=run.id))
    assert _final(world, run.id).phase == "Succeeded"
