"""Log keys from a Workflow's status are used only when they are the run's own, in the configured bucket."""

from __future__ import annotations

from typing import Any

import pytest

from bot.tracking.progress import LogScope, own_log_prefix, workflow_state

WORKFLOW_META = {
    "namespace": "argo",
    "name": "etl-x7k2p",
    "uid": "u-1",
    "creationTimestamp": "2026-03-02T09:00:00Z",
}


@pytest.mark.parametrize(
    ("key_format", "prefix"),
    [
        ("{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}", "argo/etl-x7k2p/"),
        (
            "logs/{{workflow.creationTimestamp.Y}}/{{workflow.creationTimestamp.m}}/{{workflow.uid}}/{{pod.name}}",
            "logs/2026/03/u-1/",
        ),
        ("{{ workflow.name }}/{{pod.name}}.log", "etl-x7k2p/"),
        ("static/{{pod.name}}", "static/"),
    ],
)
def test_the_runs_own_prefix_stops_at_the_first_per_step_variable(key_format: str, prefix: str) -> None:
    assert own_log_prefix(key_format, {"metadata": WORKFLOW_META}) == prefix


def _workflow(key: str, bucket: str | None = "logs") -> dict[str, Any]:
    s3: dict[str, Any] = {"key": key} | ({"bucket": bucket} if bucket else {})
    node = {
        "id": "n1",
        "type": "Pod",
        "displayName": "extract",
        "phase": "Failed",
        "outputs": {"artifacts": [{"name": "main-logs", "s3": s3}]},
    }
    return {"metadata": WORKFLOW_META, "status": {"phase": "Failed", "nodes": {"n1": node}}}


SCOPE = LogScope(bucket="logs", key_format="{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}")


@pytest.mark.parametrize(
    ("key", "bucket", "kept"),
    [
        ("argo/etl-x7k2p/etl-x7k2p-1/main.log", "logs", True),
        ("argo/etl-x7k2p/etl-x7k2p-1/main.log", None, True),  # the repository's default bucket
        ("argo/other-run/pod/main.log", "logs", False),  # another run's log
        ("argo/etl-x7k2p/etl-x7k2p-1/main.log", "secrets", False),  # another bucket
        ("argo/etl-x7k2p-evil/pod/main.log", "logs", False),  # a name that only starts alike
    ],
)
def test_a_log_key_outside_the_runs_own_place_is_dropped(key: str, bucket: str | None, kept: bool) -> None:
    (step,) = workflow_state(_workflow(key, bucket), logs=SCOPE).steps
    assert (step.log_key == key) is kept
    assert step.log_key in (key, None)
