"""Golden files for the run messages: a running, a succeeded, a failed and a stopped run.

Each case plays a short sequence of Workflow objects, shaped as Argo (and the sandbox controller)
write them, through `workflow_state` and `diff`, and records what Slack would show: the parent
message, the thread lines and, once finished, the summary. Review changes to `golden/*.json` in
the diff; `pytest tests/render --update-golden` rewrites them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.records import Run
from bot.render.runs import render_parent, render_summary, render_transition
from bot.sandbox.slack.blocks import MAX_COMBINED_BLOCK_TEXT, check_message_blocks, combined_text_length
from bot.tracking.progress import RunState, diff, first_failed_step, workflow_state

START = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
UI = "https://argo.example.test/workflows/batch/nightly-etl-x7k2p"
FAILED_LOG = """\
2024-05-01T02:01:10Z connecting to postgres://etl@db.batch.svc:5432/warehouse
2024-05-01T02:01:11Z applying migration 0042_add_orders_index
2024-05-01T02:01:12Z ERROR: relation "orders_v2" does not exist
2024-05-01T02:01:12Z migration 0042 failed, rolling back
"""


def at(seconds: int) -> str:
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod(
    index: int,
    name: str,
    phase: str,
    *,
    started: int,
    finished: int | None = None,
    exit_code: int | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    node_id = f"nightly-etl-x7k2p-{1000 + index}"
    body: dict[str, Any] = {
        "id": node_id,
        "name": f"nightly-etl-x7k2p[{index}].{name}",
        "displayName": name,
        "type": "Pod",
        "templateName": name,
        "phase": phase,
        "boundaryID": "nightly-etl-x7k2p",
        "startedAt": at(started),
    }
    if finished is not None:
        body["finishedAt"] = at(finished)
        key = f"argo-logs/batch/nightly-etl-x7k2p/nightly-etl-x7k2p-{name}-{1000 + index}/main.log"
        body["outputs"] = {
            "exitCode": str(exit_code if exit_code is not None else 0),
            "artifacts": [{"name": "main-logs", "s3": {"key": key}}],
        }
    if message:
        body["message"] = message
    return body


def workflow(
    phase: str, *pods: dict[str, Any], finished: int | None = None, message: str = "", shutdown: str = ""
) -> dict[str, Any]:
    nodes: dict[str, Any] = {
        "nightly-etl-x7k2p": {
            "id": "nightly-etl-x7k2p",
            "name": "nightly-etl-x7k2p",
            "displayName": "nightly-etl-x7k2p",
            "type": "Steps",
            "phase": phase,
            "startedAt": at(0),
        }
    }
    nodes.update({p["id"]: p for p in pods})
    done = sum(p["phase"] in ("Succeeded", "Failed", "Error") for p in pods)
    status: dict[str, Any] = {"phase": phase, "startedAt": at(0), "progress": f"{done}/3", "nodes": nodes}
    if finished is not None:
        status["finishedAt"] = at(finished)
    if message:
        status["message"] = message
    spec: dict[str, Any] = {"workflowTemplateRef": {"name": "nightly-etl"}}
    if shutdown:
        spec["shutdown"] = shutdown
    return {"metadata": {"name": "nightly-etl-x7k2p", "namespace": "batch"}, "spec": spec, "status": status}


def run_record(*, phase: str, finished: datetime | None = None) -> Run:
    return Run(
        id="r-20240501-7f3a",
        kind="workflow",
        cluster="prod-eu",
        namespace="batch",
        name="nightly-etl-x7k2p",
        template="nightly-etl",
        parameters={"date": "2024-05-01", "tables": "orders,customers", "dry-run": "false"},
        revision=None,
        requester_id="U0ALICE",
        requester_name="alice",
        channel_id="C0OPS",
        parent_ts="1714528800.000100",
        phase=phase,
        progress="",
        message="",
        created_at=START - timedelta(seconds=2),
        updated_at=START,
        finished_at=finished,
        final_posted=False,
        resource_version=None,
        k8s_uid=None,
    )


def log_urls(state: RunState) -> dict[str, str]:
    return {
        step.node_id: f"https://s3.example.test/{step.log_key}?X-Amz-Expires=3600"
        for step in state.steps
        if step.log_key
    }


def play(snapshots: list[dict[str, Any]], *, now_after: int) -> dict[str, Any]:
    """What Slack shows after these snapshots: parent, thread lines, and the summary when finished."""
    previous: RunState | None = None
    thread: list[str] = []
    for snapshot in snapshots:
        state = workflow_state(snapshot)
        urls = log_urls(state)
        for transition in diff(previous, state):
            if transition.kind == "finished":
                continue  # the summary closes the thread
            step = transition.step
            url = urls.get(step.node_id) if step and transition.kind == "step-failed" else None
            thread.append(render_transition(transition, log_url=url))
        previous = state
    assert previous is not None
    final = previous.is_final
    run = run_record(phase=previous.phase, finished=previous.finished_at if final else None)
    text, blocks = render_parent(run=run, state=previous, now=START + timedelta(seconds=now_after), ui_url=UI)
    result: dict[str, Any] = {"parent": {"text": text, "blocks": blocks}, "thread": thread, "summary": None}
    if final:
        failed = first_failed_step(previous)
        text, blocks = render_summary(
            run=run,
            state=previous,
            failed_log_tail=FAILED_LOG if failed else None,
            log_urls=log_urls(previous),
        )
        result["summary"] = {"text": text, "blocks": blocks}
    return result


BUILD_DONE = pod(0, "extract", "Succeeded", started=1, finished=64)

CASES: dict[str, tuple[list[dict[str, Any]], int]] = {
    "run_running": (
        [
            workflow("Running", pod(0, "extract", "Running", started=1)),
            workflow("Running", BUILD_DONE, pod(1, "migrate", "Running", started=65)),
        ],
        125,
    ),
    "run_succeeded": (
        [
            workflow("Running", pod(0, "extract", "Running", started=1)),
            workflow("Running", BUILD_DONE, pod(1, "migrate", "Running", started=65)),
            workflow(
                "Succeeded",
                BUILD_DONE,
                pod(1, "migrate", "Succeeded", started=65, finished=130),
                pod(2, "load", "Succeeded", started=131, finished=252),
                finished=252,
            ),
        ],
        4000,
    ),
    "run_failed": (
        [
            workflow("Running", pod(0, "extract", "Running", started=1)),
            workflow(
                "Failed",
                BUILD_DONE,
                pod(
                    1,
                    "migrate",
                    "Failed",
                    started=65,
                    finished=72,
                    exit_code=1,
                    message="Error (exit code 1)",
                ),
                finished=73,
                message="child 'nightly-etl-x7k2p-1001' failed",
            ),
        ],
        4000,
    ),
    "run_stopped": (
        [
            workflow("Running", BUILD_DONE, pod(1, "migrate", "Running", started=65)),
            workflow("Running", BUILD_DONE, pod(1, "migrate", "Running", started=65), shutdown="Stop"),
            workflow(
                "Failed",
                BUILD_DONE,
                pod(
                    1,
                    "migrate",
                    "Failed",
                    started=65,
                    finished=90,
                    exit_code=143,
                    message="workflow shutdown with strategy: Stop",
                ),
                finished=91,
                message="Stopped with strategy 'Stop'",
                shutdown="Stop",
            ),
        ],
        4000,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_run_messages_match_their_golden_file(name: str, golden: Callable[[str, Any], None]) -> None:
    snapshots, now_after = CASES[name]
    shown = play(snapshots, now_after=now_after)
    for message in (shown["parent"], shown["summary"]):
        if message is not None:
            assert check_message_blocks(message["blocks"]) == []
            assert combined_text_length(message["blocks"]) < MAX_COMBINED_BLOCK_TEXT
    golden(name, shown)
