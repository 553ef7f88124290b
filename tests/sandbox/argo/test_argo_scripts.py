"""Pure parts of the Argo stand-in: keyFormat rendering and the magic pod scripts."""

from __future__ import annotations

import datetime as dt

import pytest

from bot.sandbox.argo import render_key
from bot.sandbox.argo.scripts import parse_script, script_from_template

CREATED = dt.datetime(2024, 3, 7, 9, 5, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("key_format", "expected"),
    [
        ("{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}", "argo/wf-1/wf-1-build-123"),
        (
            "logs/{{workflow.creationTimestamp.Y}}/{{workflow.creationTimestamp.m}}/"
            "{{workflow.creationTimestamp.d}}/{{ workflow.name }}/{{pod.name}}",
            "logs/2024/03/07/wf-1/wf-1-build-123",
        ),
        (
            "{{workflow.creationTimestamp.H}}{{workflow.creationTimestamp.M}}/{{pod.name}}",
            "0905/wf-1-build-123",
        ),
        ("{{workflow.unknown}}/{{pod.name}}", "{{workflow.unknown}}/wf-1-build-123"),
    ],
)
def test_key_format_renders_like_argo(key_format: str, expected: str) -> None:
    key = render_key(
        key_format, namespace="argo", workflow_name="wf-1", pod_name="wf-1-build-123", created=CREATED
    )

    assert key == expected


@pytest.mark.parametrize(
    ("text", "logs", "exit_code", "duration"),
    [
        ("echo hello; sleep 2; echo 'done now'", ("hello", "done now"), 0, 2.0),
        ("echo failing\nexit 3\necho never", ("failing",), 3, 0.0),
        ("sleep 60", ("step done",), 0, 60.0),
        ("", ("step done",), 0, 1.0),
        ("python migrate.py --all", ("python migrate.py --all",), 0, 0.0),
    ],
)
def test_magic_script_inputs(text: str, logs: tuple[str, ...], exit_code: int, duration: float) -> None:
    script = parse_script(text, default_line="step done")

    assert (script.logs, script.exit_code, script.duration) == (logs, exit_code, duration)


def test_container_args_after_sh_dash_c_are_the_script() -> None:
    template = {"name": "t", "container": {"command": ["sh", "-c"], "args": ["echo hi; exit 2"]}}

    script = script_from_template(template)

    assert script.logs == ("hi",)
    assert script.exit_code == 2


def test_script_template_source_is_the_script() -> None:
    script = script_from_template(
        {"name": "t", "script": {"image": "python", "source": "echo from source\nsleep 4"}}
    )

    assert script.logs == ("from source",)
    assert script.duration == 4.0
