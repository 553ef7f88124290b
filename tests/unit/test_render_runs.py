"""Run messages: what people see in the parent, the thread lines and the summary, within Slack's limits.

Limits are checked with the Slack stand-in's own validator (the checks Slack applies, with its error
strings), so a render that passes here is one the sandbox, and Slack, accept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.records import Run
from bot.render.blocks import MAX_TEXT
from bot.render.runs import (
    ACTION_LOGS,
    ACTION_OPEN_UI,
    ACTION_STOP,
    format_duration,
    log_tail,
    render_parent,
    render_summary,
    render_transition,
)
from bot.sandbox.slack.blocks import MAX_COMBINED_BLOCK_TEXT, check_message_blocks, combined_text_length
from bot.tracking.progress import RunState, StepView, Transition

START = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def make_run(**changes: Any) -> Run:
    values: dict[str, Any] = {
        "id": "r-7f3a",
        "kind": "workflow",
        "cluster": "prod-eu",
        "namespace": "batch",
        "name": "nightly-etl-x7k2p",
        "template": "nightly-etl",
        "parameters": {"date": "2024-05-01", "dry-run": "false"},
        "revision": None,
        "requester_id": "U0ALICE",
        "requester_name": "alice",
        "channel_id": "C0OPS",
        "parent_ts": "1714557600.000100",
        "phase": "Running",
        "progress": "1/3",
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


def make_step(index: int, phase: str = "Succeeded", **changes: Any) -> StepView:
    values: dict[str, Any] = {
        "node_id": f"wf-{index}",
        "name": f"step-{index}",
        "template": "work",
        "phase": phase,
        "started_at": START + timedelta(seconds=index),
        "finished_at": START + timedelta(seconds=index + 65) if phase != "Running" else None,
        "message": "",
        "exit_code": 0 if phase == "Succeeded" else (1 if phase == "Failed" else None),
        "log_key": f"logs/wf/wf-{index}/main.log",
    }
    values.update(changes)
    return StepView(**values)


def make_state(phase: str, steps: tuple[StepView, ...] = (), **changes: Any) -> RunState:
    values: dict[str, Any] = {
        "phase": phase,
        "progress": f"{sum(s.phase == 'Succeeded' for s in steps)}/{len(steps)}",
        "started_at": START,
        "finished_at": START + timedelta(minutes=4, seconds=12) if phase in ("Succeeded", "Failed") else None,
        "message": "",
        "shutdown": None,
        "steps": steps,
    }
    values.update(changes)
    return RunState(**values)


def assert_slack_accepts(text: str, blocks: list[dict[str, Any]]) -> None:
    assert check_message_blocks(blocks) == []
    assert combined_text_length(blocks) < MAX_COMBINED_BLOCK_TEXT
    assert 0 < len(text) <= MAX_TEXT
    json.dumps(blocks)  # plain JSON, nothing else


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        element["action_id"]: element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


def all_text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (-5, "0s"), (42.9, "42s"), (125, "2m 05s"), (3720, "1h 02m"), (273600, "3d 04h")],
)
def test_format_duration(seconds: float, expected: str) -> None:
    assert format_duration(seconds) == expected


def test_a_running_parent_shows_progress_elapsed_requester_and_stop_logs_ui_buttons() -> None:
    state = make_state("Running", (make_step(0), make_step(1, "Running")))
    text, blocks = render_parent(
        run=make_run(), state=state, now=START + timedelta(minutes=2, seconds=5), ui_url="https://argo/wf"
    )
    assert_slack_accepts(text, blocks)
    shown = all_text(blocks)
    for expected in (
        "Running",
        "1/2",
        "2m 05s",
        "<@U0ALICE>",
        "prod-eu / batch",
        "`step-1`",
        "`date=2024-05-01`",
    ):
        assert expected in shown
    assert blocks[0]["text"]["text"] == ":arrows_counterclockwise: nightly-etl · nightly-etl-x7k2p"
    actions = buttons(blocks)
    assert set(actions) == {ACTION_STOP, ACTION_LOGS, ACTION_OPEN_UI}
    assert actions[ACTION_STOP]["value"] == "r-7f3a" and actions[ACTION_LOGS]["value"] == "r-7f3a"
    assert "confirm" in actions[ACTION_STOP]
    assert actions[ACTION_OPEN_UI]["url"] == "https://argo/wf"


def test_a_finished_parent_shows_the_duration_and_no_stop_button() -> None:
    state = make_state("Succeeded", (make_step(0), make_step(1)))
    text, blocks = render_parent(run=make_run(), state=state, now=START + timedelta(hours=5), ui_url=None)
    assert_slack_accepts(text, blocks)
    assert "*Duration*\n4m 12s" in all_text(blocks).replace("\\n", "\n")
    assert set(buttons(blocks)) == {ACTION_LOGS}


def test_a_stop_request_shows_stopping_then_stopped() -> None:
    stopping = make_state("Running", (make_step(0, "Running"),), shutdown="Stop")
    _, blocks = render_parent(run=make_run(), state=stopping, now=START, ui_url=None)
    assert blocks[0]["text"]["text"].startswith(":hourglass: ")
    assert ACTION_STOP not in buttons(blocks)
    stopped = make_state(
        "Failed", (make_step(0, "Failed"),), shutdown="Stop", message="Stopped with strategy 'Stop'"
    )
    text, blocks = render_parent(run=make_run(), state=stopped, now=START, ui_url=None)
    assert blocks[0]["text"]["text"].startswith(":octagonal_sign: ")
    assert "Stopped" in text
    assert "Stopped with strategy" in all_text(blocks)


def test_before_the_first_read_the_parent_comes_from_the_stored_run() -> None:
    run = make_run(name=None, phase="Pending", progress="")
    text, blocks = render_parent(run=run, state=None, now=START + timedelta(seconds=3), ui_url=None)
    assert_slack_accepts(text, blocks)
    assert "(submitting)" in blocks[0]["text"]["text"]
    assert buttons(blocks) == {}  # nothing to stop or read yet


def test_user_text_is_escaped_so_it_cannot_ping_or_break_links() -> None:
    run = make_run(parameters={"note": "<!channel> & <https://evil|click>"}, namespace="a<b")
    state = make_state("Failed", (), message="<!here> broke")
    _, blocks = render_parent(run=run, state=state, now=START, ui_url=None)
    shown = all_text(blocks)
    assert "<!channel>" not in shown and "<!here>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt; &amp; &lt;https://evil|click&gt;" in shown


def test_huge_parameter_lists_are_cut_with_a_count() -> None:
    run = make_run(parameters={f"param-{i}": "v" * 500 for i in range(400)})
    text, blocks = render_parent(
        run=run, state=make_state("Running"), now=START, ui_url="https://a/" + "x" * 5000
    )
    assert_slack_accepts(text, blocks)
    assert "more_" in all_text(blocks)
    assert ACTION_OPEN_UI not in buttons(blocks)  # a URL Slack would refuse is left out, not cut


@pytest.mark.parametrize(
    ("transition", "log_url", "expected"),
    [
        (Transition("step-started", make_step(3, "Running")), None, ":arrow_forward: step `step-3` started"),
        (
            Transition("step-succeeded", make_step(3)),
            None,
            ":white_check_mark: step `step-3` succeeded in 1m 05s",
        ),
        (
            Transition("step-failed", make_step(3, "Failed", message="Error (exit code 1)")),
            "https://s3/logs?X-Amz-Signature=abc&x=1",
            ":x: step `step-3` failed (exit 1): Error (exit code 1) · <https://s3/logs?X-Amz-Signature=abc&x=1|log>",
        ),
        (
            Transition("step-failed", make_step(3, "Error", exit_code=None, message="pod deleted")),
            None,
            ":warning: step `step-3` failed: pod deleted",
        ),
        (Transition("finished", None), None, ":checkered_flag: run finished"),
    ],
)
def test_transition_lines(transition: Transition, log_url: str | None, expected: str) -> None:
    assert render_transition(transition, log_url=log_url) == expected


def test_a_transition_line_stays_within_a_section_whatever_the_message() -> None:
    step = make_step(1, "Failed", name="`odd`<name>", message="x" * 50_000)
    line = render_transition(Transition("step-failed", step), log_url="https://s3/" + "y" * 5000)
    assert len(line) <= 3000
    assert "`'odd'&lt;name&gt;`" in line


def test_summary_of_a_failed_run_has_the_outcome_steps_and_the_log_tail() -> None:
    steps = (make_step(0), make_step(1, "Failed", message="Error (exit code 1)"), make_step(2, "Omitted"))
    state = make_state("Failed", steps, message="child 'wf-1' failed")
    log = "\n".join(f"line {i}" for i in range(1, 201)) + "\nFATAL: relation <users> does not exist\n"
    text, blocks = render_summary(
        run=make_run(),
        state=state,
        failed_log_tail=log,
        log_urls={"wf-1": "https://s3/wf-1", "step-0": "https://s3/0"},
    )
    assert_slack_accepts(text, blocks)
    shown = all_text(blocks)
    assert text == ":x: nightly-etl · nightly-etl-x7k2p: failed in 4m 12s"
    assert "1/3 steps succeeded" in shown
    assert ":x: `step-1` · 1m 05s · exit 1 · <https://s3/wf-1|log>" in shown
    assert "<https://s3/0|log>" in shown  # keyed by step name works too
    assert "FATAL: relation &lt;users&gt; does not exist" in shown
    assert "line 150" not in shown  # only the last lines
    assert "line 200" in shown


def test_summary_with_200_steps_and_a_100kb_log_fits_one_message_and_keeps_the_failures() -> None:
    steps = tuple(
        make_step(i, "Failed" if i in (7, 150, 199) else "Succeeded", name=f"shard-{i:03d}-" + "n" * 40)
        for i in range(200)
    )
    state = make_state("Failed", steps)
    urls = {s.node_id: "https://bucket.s3.amazonaws.com/k?X-Amz-Signature=" + "f" * 600 for s in steps}
    log = "".join(f"{i:06d} " + "z" * 90 + "\n" for i in range(1000))  # ~100 KB
    text, blocks = render_summary(run=make_run(), state=state, failed_log_tail=log, log_urls=urls)
    assert_slack_accepts(text, blocks)
    shown = all_text(blocks)
    for failed in ("shard-007", "shard-150", "shard-199"):
        assert failed in shown
    assert "more steps not shown" in shown
    assert shown.count("|log>") == 3  # the failed rows keep their (long) log links
    assert "000999 " in shown  # the very end of the log is there


def test_log_tail_cuts_at_a_line_start_and_neutralises_code_fences() -> None:
    tail = log_tail("a" * 10_000 + "\nok ``` done\nlast", max_chars=100)
    assert tail.startswith("…\n") and tail.endswith("last")
    assert "```" not in tail
    assert log_tail("one\r\ntwo\n\n") == "one\ntwo"


WILD_TEXT = st.text(alphabet=st.sampled_from([*"ab<>&`*_~|:\n ", "é", "🚀", "\u200b"]), max_size=400)
PHASES = st.sampled_from(["Pending", "Running", "Succeeded", "Failed", "Error", "Skipped", "Omitted", "?"])


@st.composite
def wild_steps(draw: st.DrawFn) -> tuple[StepView, ...]:
    count = draw(st.integers(min_value=0, max_value=250))
    name = draw(WILD_TEXT)
    message = draw(WILD_TEXT)
    return tuple(
        make_step(
            i,
            draw(PHASES) if i < 5 else ("Failed" if i % 17 == 0 else "Succeeded"),
            name=f"{name}{i}",
            message=message * 10,
        )
        for i in range(count)
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=wild_steps(),
    phase=PHASES,
    message=WILD_TEXT,
    repeat=st.integers(min_value=1, max_value=300),
    params=st.dictionaries(WILD_TEXT, WILD_TEXT, max_size=60),
    shutdown=st.sampled_from([None, "Stop", "Terminate"]),
)
def test_any_run_renders_within_slack_limits(
    steps: tuple[StepView, ...],
    phase: str,
    message: str,
    repeat: int,
    params: dict[str, str],
    shutdown: str | None,
) -> None:
    run = make_run(parameters=params, name=message[:300] or "wf", template=message[:200] or None)
    state = make_state(phase, steps, message=message * repeat, shutdown=shutdown)
    assert_slack_accepts(*render_parent(run=run, state=state, now=START, ui_url="https://argo/x"))
    urls = {s.node_id: "https://s3/" + "k" * 900 for s in steps}
    assert_slack_accepts(
        *render_summary(run=run, state=state, failed_log_tail=(message + "\n") * repeat * 3, log_urls=urls)
    )
    for step in steps[:5]:
        kind = "step-failed" if step.is_failed else "step-started"
        assert 0 < len(render_transition(Transition(kind, step), log_url=urls[step.node_id])) <= 3000
