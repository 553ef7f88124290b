"""Golden files for workflow runs beyond the played sequences: the parent before the first read,
each kind of step reply, and the closing summary of a succeeded and of a failed run.

Inputs are fixed (datetimes, names, presigned links); `pytest tests/render --update-golden`
rewrites `golden/*.json`, to be reviewed in the diff.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.records import Run
from bot.render.runs import render_parent, render_summary, render_transition
from bot.tracking.progress import RunState, StepView, Transition

START = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
UI = "https://argo.example.test/workflows/batch/db-migrate-q8w4n"
LOG_TAIL = """\
2024-05-01T02:03:40Z applying migration 0042_add_orders_index
2024-05-01T02:03:41Z CREATE INDEX CONCURRENTLY orders_created_at_idx ON orders (created_at)
2024-05-01T02:03:58Z ERROR: could not create unique index "orders_pkey" & <rolled back>
2024-05-01T02:03:58Z DETAIL: Key (id)=(48213) is duplicated.
2024-05-01T02:03:58Z migration 0042 failed after 18s
"""


def run(*, phase: str, finished: datetime | None = None) -> Run:
    return Run(
        id="r-20240501-9c1e",
        kind="workflow",
        cluster="prod-eu",
        namespace="batch",
        name="db-migrate-q8w4n",
        template="db-migrate",
        parameters={"target": "orders", "lock-timeout": "30s"},
        revision=None,
        requester_id="U0BOB",
        requester_name="bob",
        channel_id="C0OPS",
        parent_ts="1714528800.000200",
        phase=phase,
        progress="",
        message="",
        created_at=START - timedelta(seconds=3),
        updated_at=START,
        finished_at=finished,
        final_posted=False,
        resource_version=None,
        k8s_uid=None,
    )


def step(
    index: int,
    name: str,
    phase: str,
    *,
    started: int,
    finished: int | None = None,
    exit_code: int | None = None,
    message: str = "",
) -> StepView:
    node = f"db-migrate-q8w4n-{2000 + index}"
    return StepView(
        node_id=node,
        name=name,
        template=name,
        phase=phase,
        started_at=START + timedelta(seconds=started),
        finished_at=START + timedelta(seconds=finished) if finished is not None else None,
        message=message,
        exit_code=exit_code,
        log_key=f"argo-logs/batch/db-migrate-q8w4n/{node}/main.log" if finished is not None else None,
    )


def presigned(state: RunState) -> dict[str, str]:
    return {
        s.node_id: f"https://s3.example.test/{s.log_key}?X-Amz-Expires=3600&X-Amz-Signature=5f2c9a"
        for s in state.steps
        if s.log_key
    }


BACKUP = step(0, "backup", "Succeeded", started=2, finished=95, exit_code=0)
MIGRATE_FAILED = step(
    1, "migrate", "Failed", started=96, finished=238, exit_code=3, message="Error (exit code 3)"
)

SUCCEEDED = RunState(
    phase="Succeeded",
    progress="3/3",
    started_at=START,
    finished_at=START + timedelta(seconds=421),
    message="",
    shutdown=None,
    steps=(
        BACKUP,
        step(1, "migrate", "Succeeded", started=96, finished=238, exit_code=0),
        step(2, "verify", "Succeeded", started=239, finished=420, exit_code=0),
    ),
)
FAILED = RunState(
    phase="Failed",
    progress="1/3",
    started_at=START,
    finished_at=START + timedelta(seconds=240),
    message="child 'db-migrate-q8w4n-2001' failed",
    shutdown=None,
    steps=(BACKUP, MIGRATE_FAILED, step(2, "verify", "Omitted", started=239)),
)


def test_parent_pending_before_the_first_read(golden_message: Callable[..., None]) -> None:
    text, blocks = render_parent(
        run=run(phase="Pending"), state=None, now=START + timedelta(seconds=4), ui_url=UI
    )
    golden_message("run_parent_pending", text, blocks)


STEP_REPLIES: dict[str, tuple[Transition, str | None]] = {
    "run_reply_step_started": (Transition("step-started", step(2, "verify", "Running", started=239)), None),
    "run_reply_step_succeeded": (Transition("step-succeeded", BACKUP), None),
    "run_reply_step_failed": (
        Transition("step-failed", MIGRATE_FAILED),
        "https://s3.example.test/argo-logs/batch/db-migrate-q8w4n/db-migrate-q8w4n-2001/main.log"
        "?X-Amz-Expires=3600&X-Amz-Signature=5f2c9a",
    ),
    "run_reply_step_stopped": (
        Transition(
            "step-failed",
            step(
                1,
                "migrate",
                "Failed",
                started=96,
                finished=120,
                exit_code=143,
                message="workflow shutdown with strategy: Stop",
            ),
        ),
        None,
    ),
}


@pytest.mark.parametrize("name", sorted(STEP_REPLIES))
def test_step_reply(name: str, golden_message: Callable[..., None]) -> None:
    transition, url = STEP_REPLIES[name]
    text = render_transition(transition, log_url=url)
    golden_message(name, text, [])  # a thread reply is a line of mrkdwn, without blocks


SUMMARIES: dict[str, tuple[RunState, str | None]] = {
    "run_summary_succeeded": (SUCCEEDED, None),
    "run_summary_failed": (FAILED, LOG_TAIL),
}


@pytest.mark.parametrize("name", sorted(SUMMARIES))
def test_summary(name: str, golden_message: Callable[..., Any]) -> None:
    state, tail = SUMMARIES[name]
    record = run(phase=state.phase, finished=state.finished_at)
    text, blocks = render_summary(run=record, state=state, failed_log_tail=tail, log_urls=presigned(state))
    golden_message(name, text, blocks)
    if tail is not None:
        shown = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
        assert "Key (id)=(48213) is duplicated." in shown
        assert "&amp; &lt;rolled back&gt;" in shown  # log text is escaped, not dropped
