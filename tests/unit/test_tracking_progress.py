"""Run state read from Argo Workflow objects, and the thread events between two reads."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.tracking.progress import (
    RunState,
    Transition,
    diff,
    first_failed_step,
    parse_time,
    workflow_state,
)


def node(
    node_id: str,
    name: str,
    phase: str,
    *,
    started: str | None = "2024-05-01T10:00:00Z",
    finished: str | None = None,
    node_type: str = "Pod",
    exit_code: str | None = None,
    message: str | None = None,
    log_key: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": node_id,
        "name": f"wf[0].{name}",
        "displayName": name,
        "type": node_type,
        "templateName": f"{name}-tpl",
        "phase": phase,
    }
    if started:
        body["startedAt"] = started
    if finished:
        body["finishedAt"] = finished
    if message:
        body["message"] = message
    outputs: dict[str, Any] = {}
    if exit_code is not None:
        outputs["exitCode"] = exit_code
    if log_key:
        outputs["artifacts"] = [{"name": "main-logs", "s3": {"key": log_key}}]
    if outputs:
        body["outputs"] = outputs
    return body


def workflow(phase: str | None, *nodes: dict[str, Any], shutdown: str | None = None, **status: Any) -> Any:
    body: dict[str, Any] = {"metadata": {"name": "wf"}, "spec": {}, "status": dict(status)}
    if phase:
        body["status"]["phase"] = phase
    body["status"]["nodes"] = {n["id"]: n for n in nodes}
    if shutdown:
        body["spec"]["shutdown"] = shutdown
    return body


def kinds(transitions: list[Transition]) -> list[tuple[str, str | None]]:
    return [(t.kind, t.step.name if t.step else None) for t in transitions]


# -- reading -------------------------------------------------------------------------------------


def test_a_workflow_the_controller_has_not_touched_is_pending_without_steps() -> None:
    state = workflow_state({"metadata": {"name": "wf"}, "spec": {}})
    assert state == RunState(
        phase="Pending",
        progress="",
        started_at=None,
        finished_at=None,
        message="",
        shutdown=None,
        steps=(),
    )
    assert not state.is_final


@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"status": None},
        {"status": {"nodes": None}},
        {"status": {"nodes": {"x": None}}},
        {"status": {"nodes": {"x": {"type": "Pod", "outputs": {"artifacts": "nope", "exitCode": []}}}}},
        {"status": {"phase": 3, "startedAt": "yesterday", "nodes": []}},
        {"spec": "broken", "status": "broken"},
    ],
)
def test_malformed_objects_never_raise(obj: dict[str, Any]) -> None:
    state = workflow_state(obj)
    assert state.phase in ("Pending",)
    assert all(step.node_id for step in state.steps)


def test_only_pod_nodes_are_steps_with_their_exit_code_and_log_key() -> None:
    obj = workflow(
        "Running",
        node("wf", "wf", "Running", node_type="Steps"),
        node("wf-1", "[0]", "Running", node_type="StepGroup"),
        node(
            "wf-2",
            "build",
            "Failed",
            finished="2024-05-01T10:01:05Z",
            exit_code="2",
            message="Error (exit code 2)",
            log_key="logs/wf/wf-build-2/main.log",
        ),
        node("wf-3", "skip-me", "Skipped", node_type="Skipped"),
        progress="0/1",
        startedAt="2024-05-01T10:00:00Z",
    )
    state = workflow_state(obj)
    assert [s.name for s in state.steps] == ["build"]
    step = state.steps[0]
    assert (step.node_id, step.template, step.phase) == ("wf-2", "build-tpl", "Failed")
    assert (step.exit_code, step.log_key, step.message) == (
        2,
        "logs/wf/wf-build-2/main.log",
        "Error (exit code 2)",
    )
    assert step.finished_at == datetime(2024, 5, 1, 10, 1, 5, tzinfo=UTC)
    assert state.progress == "0/1"
    assert state.started_at == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def test_steps_are_ordered_by_start_time_then_name_and_unstarted_ones_last() -> None:
    obj = workflow(
        "Running",
        node("n4", "zeta", "Pending", started=None),
        node("n3", "load", "Running", started="2024-05-01T10:02:00Z"),
        node("n2", "beta", "Running", started="2024-05-01T10:01:00Z"),
        node("n1", "alpha", "Running", started="2024-05-01T10:01:00Z"),
    )
    assert [s.name for s in workflow_state(obj).steps] == ["alpha", "beta", "load", "zeta"]


@pytest.mark.parametrize(
    ("phase", "shutdown", "final", "stopped"),
    [
        ("Pending", None, False, False),
        ("Running", None, False, False),
        ("Succeeded", None, True, False),
        ("Failed", None, True, False),
        ("Error", None, True, False),
        ("Running", "Stop", False, True),
        ("Failed", "Terminate", True, True),
    ],
)
def test_final_and_stopped(phase: str, shutdown: str | None, final: bool, stopped: bool) -> None:
    state = workflow_state(workflow(phase, shutdown=shutdown))
    assert (state.is_final, state.is_stopped, state.shutdown) == (final, stopped, shutdown)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("not a time", None),
        (1714557600, None),
    ],
)
def test_parse_time(text: Any, expected: datetime | None) -> None:
    assert parse_time(text) == expected


# -- transitions ---------------------------------------------------------------------------------

T0 = "2024-05-01T10:00:00Z"
T1 = "2024-05-01T10:00:01Z"
T2 = "2024-05-01T10:00:02Z"
T3 = "2024-05-01T10:00:03Z"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        pytest.param(None, workflow("Pending"), [], id="nothing yet"),
        pytest.param(
            None,
            workflow("Running", node("a", "build", "Pending")),
            [],
            id="a pending pod has not started",
        ),
        pytest.param(
            workflow("Running", node("a", "build", "Pending")),
            workflow("Running", node("a", "build", "Running")),
            [("step-started", "build")],
            id="pending to running starts",
        ),
        pytest.param(
            workflow("Running", node("a", "build", "Running")),
            workflow("Running", node("a", "build", "Running")),
            [],
            id="no change, no event",
        ),
        pytest.param(
            workflow("Running", node("a", "build", "Running")),
            workflow("Running", node("a", "build", "Succeeded", finished=T1)),
            [("step-succeeded", "build")],
            id="running to succeeded",
        ),
        pytest.param(
            None,
            workflow("Running", node("a", "migrate", "Failed", finished=T1)),
            [("step-failed", "migrate")],
            id="straight to failed: only the failure",
        ),
        pytest.param(
            workflow("Running", node("a", "migrate", "Pending")),
            workflow("Running", node("a", "migrate", "Error", finished=T1)),
            [("step-failed", "migrate")],
            id="error counts as failed",
        ),
        pytest.param(
            workflow("Running", node("a", "opt", "Pending")),
            workflow("Running", node("a", "opt", "Omitted")),
            [],
            id="omitted never ran",
        ),
        pytest.param(
            workflow("Running", node("a", "build", "Running", started=T0)),
            workflow(
                "Running",
                node("a", "build", "Succeeded", started=T0, finished=T2),
                node("b", "test", "Running", started=T2),
            ),
            [("step-succeeded", "build"), ("step-started", "test")],
            id="same second: the end of one step before the start of the next",
        ),
        pytest.param(
            workflow("Running", node("a", "slow", "Running", started=T0)),
            workflow(
                "Running",
                node("a", "slow", "Failed", started=T0, finished=T3),
                node("b", "fast", "Running", started=T1),
            ),
            [("step-started", "fast"), ("step-failed", "slow")],
            id="events in the order they happened",
        ),
        pytest.param(
            workflow("Running", node("a", "build", "Running", started=T0)),
            workflow("Succeeded", node("a", "build", "Succeeded", started=T0, finished=T1)),
            [("step-succeeded", "build"), ("finished", None)],
            id="finished comes last",
        ),
        pytest.param(
            workflow("Failed", node("a", "build", "Failed", finished=T1)),
            workflow("Failed", node("a", "build", "Failed", finished=T1)),
            [],
            id="finished once",
        ),
        pytest.param(
            None,
            workflow("Error", message="invalid spec"),
            [("finished", None)],
            id="a run that failed before any step",
        ),
    ],
)
def test_diff(old: Any, new: Any, expected: list[tuple[str, str | None]]) -> None:
    before = workflow_state(old) if old is not None else None
    assert kinds(diff(before, workflow_state(new))) == expected


def test_a_run_watched_update_by_update_or_all_at_once_posts_the_same_events() -> None:
    """A watch may deliver every change or skip some; each step event still comes exactly once."""
    snapshots = [
        workflow("Pending"),
        workflow("Running", node("a", "build", "Pending", started=T0)),
        workflow("Running", node("a", "build", "Running", started=T0)),
        workflow(
            "Running",
            node("a", "build", "Succeeded", started=T0, finished=T1),
            node("b", "test", "Running", started=T1),
            node("c", "lint", "Running", started=T1),
        ),
        workflow(
            "Running",
            node("a", "build", "Succeeded", started=T0, finished=T1),
            node("b", "test", "Failed", started=T1, finished=T2, exit_code="1"),
            node("c", "lint", "Running", started=T1),
        ),
        workflow(
            "Failed",
            node("a", "build", "Succeeded", started=T0, finished=T1),
            node("b", "test", "Failed", started=T1, finished=T2, exit_code="1"),
            node("c", "lint", "Succeeded", started=T1, finished=T3),
        ),
    ]
    states = [workflow_state(s) for s in snapshots]
    step_by_step: list[Transition] = []
    previous: RunState | None = None
    for state in states:
        step_by_step += diff(previous, state)
        previous = state
    assert kinds(step_by_step) == [
        ("step-started", "build"),
        ("step-succeeded", "build"),
        ("step-started", "lint"),
        ("step-started", "test"),
        ("step-failed", "test"),
        ("step-succeeded", "lint"),
        ("finished", None),
    ]
    skipping = diff(states[2], states[5])
    assert kinds(skipping) == [
        ("step-succeeded", "build"),
        ("step-failed", "test"),
        ("step-succeeded", "lint"),
        ("finished", None),
    ]
    assert [k for k in kinds(step_by_step) if k[0] != "step-started"][-4:] == kinds(skipping)


def test_first_failed_step_is_the_one_that_failed_earliest() -> None:
    state = workflow_state(
        workflow(
            "Failed",
            node("a", "early-start", "Failed", started=T0, finished=T3),
            node("b", "late-start", "Failed", started=T1, finished=T2),
            node("c", "fine", "Succeeded", started=T0, finished=T1),
        )
    )
    failed = first_failed_step(state)
    assert failed is not None and failed.name == "late-start"
    assert first_failed_step(workflow_state(workflow("Succeeded"))) is None
