"""The sandbox workflow controller, seen only through the kubernetes client and boto3."""

from __future__ import annotations

import datetime as dt
import urllib.request
from typing import Any

from kubernetes import client

from bot.sandbox.argo import WorkflowController, render_key
from bot.sandbox.aws import AwsSandbox
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

G, V, NS = "argoproj.io", "v1alpha1", "argo"


def workflow_template(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": f"{G}/{V}", "kind": "WorkflowTemplate", "metadata": {"name": name}, "spec": spec}


def _create_template(custom: client.CustomObjectsApi, name: str, spec: dict[str, Any]) -> None:
    custom.create_namespaced_custom_object(G, V, NS, "workflowtemplates", workflow_template(name, spec))


def _submit(custom: client.CustomObjectsApi, template: str, **spec: Any) -> str:
    body = {
        "apiVersion": f"{G}/{V}",
        "kind": "Workflow",
        "metadata": {"generateName": f"{template}-"},
        "spec": {"workflowTemplateRef": {"name": template}, **spec},
    }
    return str(custom.create_namespaced_custom_object(G, V, NS, "workflows", body)["metadata"]["name"])


def _get(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return dict(custom.get_namespaced_custom_object(G, V, NS, "workflows", name))


def _finished(custom: client.CustomObjectsApi, name: str, timeout: float = 15) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        wf = _get(custom, name)
        return wf if wf.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error") else None

    return wait_until(done, timeout=timeout, message=f"workflow {name} to finish")


def _nodes_by_display(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in wf.get("status", {}).get("nodes", {}).values()}


def _container(*script: str) -> dict[str, Any]:
    return {"image": "alpine:3.20", "command": ["sh", "-c"], "args": ["\n".join(script)]}


PIPELINE = {
    "entrypoint": "main",
    "arguments": {"parameters": [{"name": "env", "value": "dev", "enum": ["dev", "prod"]}]},
    "templates": [
        {
            "name": "main",
            "steps": [
                [{"name": "build", "template": "work"}],
                [{"name": "test", "template": "work"}, {"name": "lint", "template": "work"}],
            ],
        },
        {"name": "work", "container": _container("echo deploying to {{workflow.parameters.env}}", "sleep 5")},
    ],
}


def test_workflow_from_template_runs_step_groups_to_success(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    _create_template(custom, "pipeline", PIPELINE)

    name = _submit(custom, "pipeline", arguments={"parameters": [{"name": "env", "value": "prod"}]})
    wf = _finished(custom, name)

    assert name.startswith("pipeline-")
    status = wf["status"]
    assert status["phase"] == "Succeeded"
    assert status["progress"] == "3/3"
    assert status["startedAt"] <= status["finishedAt"]
    labels = wf["metadata"]["labels"]
    assert labels["workflows.argoproj.io/phase"] == "Succeeded"
    assert labels["workflows.argoproj.io/completed"] == "true"
    assert labels["workflows.argoproj.io/workflow-template"] == "pipeline"
    nodes = _nodes_by_display(wf)
    root = status["nodes"][name]
    assert root["type"] == "Steps" and root["phase"] == "Succeeded"
    assert [status["nodes"][c]["displayName"] for c in root["children"]] == ["[0]", "[1]"]
    assert nodes["[1]"]["type"] == "StepGroup"
    assert sorted(status["nodes"][c]["displayName"] for c in nodes["[1]"]["children"]) == ["lint", "test"]
    build = nodes["build"]
    assert build["type"] == "Pod" and build["templateName"] == "work" and build["boundaryID"] == name
    assert build["outputs"]["exitCode"] == "0"
    assert build["id"].startswith(f"{name}-")
    # test and lint ran in parallel: each started before the other finished.
    assert nodes["test"]["startedAt"] <= nodes["lint"]["finishedAt"]
    assert nodes["lint"]["startedAt"] <= nodes["test"]["finishedAt"]
    # and only after build finished.
    assert nodes["test"]["startedAt"] >= build["finishedAt"]


def test_failing_step_ends_failed_with_its_log_archived_in_s3(
    custom: client.CustomObjectsApi, workflows: WorkflowController, aws: AwsSandbox, key_format: str
) -> None:
    _create_template(
        custom,
        "migrate",
        {
            "entrypoint": "main",
            "templates": [
                {
                    "name": "main",
                    "steps": [
                        [{"name": "migrate", "template": "run-migration"}],
                        [{"name": "after", "template": "ok"}],
                    ],
                },
                {
                    "name": "run-migration",
                    "container": _container(
                        "echo applying 0042_users", "sleep 2", "echo ERROR: relation exists", "exit 3"
                    ),
                },
                {"name": "ok", "container": _container("echo fine")},
            ],
        },
    )

    name = _submit(custom, "migrate")
    wf = _finished(custom, name)

    assert wf["status"]["phase"] == "Failed"
    nodes = _nodes_by_display(wf)
    assert "after" not in nodes  # nothing runs after a failed group
    migrate = nodes["migrate"]
    assert migrate["phase"] == "Failed"
    assert migrate["message"] == "Error (exit code 3)"
    assert migrate["outputs"]["exitCode"] == "3"
    assert wf["status"]["message"] == nodes["[0]"]["message"] == f"child '{migrate['id']}' failed"
    [artifact] = migrate["outputs"]["artifacts"]
    assert artifact["name"] == "main-logs"
    created = dt.datetime.fromisoformat(wf["metadata"]["creationTimestamp"].replace("Z", "+00:00"))
    pod_name = artifact["s3"]["key"].split("/")[-2]
    assert pod_name.startswith(f"{name}-run-migration-")
    expected = render_key(key_format, namespace=NS, workflow_name=name, pod_name=pod_name, created=created)
    assert artifact["s3"]["key"] == f"{expected}/main.log"
    assert expected.startswith(f"argo/{created:%Y}/{created:%m}/{name}/")
    bucket = wf["status"]["artifactRepositoryRef"]["artifactRepository"]["s3"]["bucket"]
    url = aws.client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": artifact["s3"]["key"]}, ExpiresIn=60
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read().decode() == "applying 0042_users\nERROR: relation exists\n"


def test_missing_template_ends_in_error_with_argos_message(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    name = _submit(custom, "does-not-exist")

    wf = _finished(custom, name)

    assert wf["status"]["phase"] == "Error"
    assert wf["status"]["message"] == 'workflowtemplates.argoproj.io "does-not-exist" not found'
    assert wf["metadata"]["labels"]["workflows.argoproj.io/completed"] == "true"


def test_parameter_outside_its_enum_ends_in_error(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    _create_template(custom, "pipeline", PIPELINE)

    name = _submit(custom, "pipeline", arguments={"parameters": [{"name": "env", "value": "staging"}]})
    wf = _finished(custom, name)

    assert wf["status"]["phase"] == "Error"
    assert "env" in wf["status"]["message"] and "staging" in wf["status"]["message"]
    assert not wf["status"].get("nodes")


LONG_WITH_EXIT_HANDLER = {
    "entrypoint": "main",
    "onExit": "notify",
    "templates": [
        {
            "name": "main",
            "steps": [[{"name": "long", "template": "long"}], [{"name": "never", "template": "notify"}]],
        },
        {"name": "long", "container": _container("echo started", "sleep 3000")},
        {"name": "notify", "container": _container("echo workflow is {{workflow.status}}")},
    ],
}


def _shut_down(custom: client.CustomObjectsApi, strategy: str) -> dict[str, Any]:
    _create_template(custom, "long-job", LONG_WITH_EXIT_HANDLER)
    name = _submit(custom, "long-job")
    wait_until(
        lambda: _nodes_by_display(_get(custom, name)).get("long", {}).get("phase") == "Running",
        timeout=10,
        message="the long step to run",
    )
    custom.patch_namespaced_custom_object(G, V, NS, "workflows", name, {"spec": {"shutdown": strategy}})
    return _finished(custom, name)


def test_terminate_stops_the_running_step_and_skips_the_exit_handler(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    wf = _shut_down(custom, "Terminate")

    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == "Stopped with strategy 'Terminate'"
    nodes = _nodes_by_display(wf)
    assert nodes["long"]["phase"] == "Failed"
    assert "never" not in nodes
    assert not any(n["name"].endswith(".onExit") for n in nodes.values())


def test_stop_stops_the_running_step_but_runs_the_exit_handler(
    custom: client.CustomObjectsApi, workflows: WorkflowController, aws: AwsSandbox
) -> None:
    wf = _shut_down(custom, "Stop")

    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == "Stopped with strategy 'Stop'"
    nodes = _nodes_by_display(wf)
    assert nodes["long"]["phase"] == "Failed"
    assert "never" not in nodes
    exit_node = next(n for n in nodes.values() if n["name"].endswith(".onExit"))
    assert exit_node["phase"] == "Succeeded"
    key = exit_node["outputs"]["artifacts"][0]["s3"]["key"]
    bucket = workflows.artifacts.bucket if workflows.artifacts else ""
    body = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert body == "workflow is Failed\n"


def test_dag_runs_tasks_after_their_dependencies_and_scripts_win_over_templates(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    _create_template(
        custom,
        "etl",
        {
            "entrypoint": "dag",
            "templates": [
                {
                    "name": "dag",
                    "dag": {
                        "tasks": [
                            {"name": "extract", "template": "work"},
                            {"name": "transform", "template": "work", "dependencies": ["extract"]},
                            {"name": "load", "template": "work", "depends": "transform"},
                            {"name": "report", "template": "work", "dependencies": ["extract"]},
                        ]
                    },
                },
                {"name": "work", "container": _container("echo working")},
            ],
        },
    )
    workflows.script(step="transform", workflow="etl-*", logs=["bad row 17"], exit_code=2, duration=3)

    wf = _finished(custom, _submit(custom, "etl"))

    nodes = _nodes_by_display(wf)
    assert wf["status"]["phase"] == "Failed"
    assert nodes[wf["metadata"]["name"]]["type"] == "DAG"
    assert nodes["extract"]["phase"] == "Succeeded" and nodes["report"]["phase"] == "Succeeded"
    assert nodes["transform"]["phase"] == "Failed"
    assert nodes["transform"]["message"] == "Error (exit code 2)"
    assert nodes["transform"]["startedAt"] >= nodes["extract"]["finishedAt"]
    assert "load" not in nodes  # its dependency failed
    assert wf["status"]["progress"] == "3/3"


def test_controller_sees_a_shutdown_sent_after_its_watch_was_dropped_and_history_compacted(
    custom: client.CustomObjectsApi, workflows: WorkflowController, kube: KubeApiServer
) -> None:
    _create_template(custom, "long-job", LONG_WITH_EXIT_HANDLER)
    name = _submit(custom, "long-job")
    wait_until(
        lambda: _nodes_by_display(_get(custom, name)).get("long", {}).get("phase") == "Running",
        timeout=10,
        message="the long step to run",
    )

    kube.faults.compact()
    kube.faults.drop_watches()
    custom.patch_namespaced_custom_object(G, V, NS, "workflows", name, {"spec": {"shutdown": "Terminate"}})

    assert _finished(custom, name)["status"]["message"] == "Stopped with strategy 'Terminate'"
