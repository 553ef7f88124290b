"""Suspend steps in the sandbox workflow controller, driven as `argo resume` and `argo stop` drive them.

A suspended workflow is only seen through the kubernetes client: its `Suspend` node stays
Running until someone writes the node's phase (what `argo resume` does), its duration passes,
or the workflow is stopped.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubernetes import client

from bot.sandbox.argo import WorkflowController
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

G, V, NS = "argoproj.io", "v1alpha1", "argo"


def _container(*script: str) -> dict[str, Any]:
    return {"image": "alpine:3.20", "command": ["sh", "-c"], "args": ["\n".join(script)]}


def _release(approve: dict[str, Any], *, on_exit: bool = False) -> dict[str, Any]:
    """build -> approve (the given suspend) -> deploy, optionally with an exit handler."""
    spec: dict[str, Any] = {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "steps": [
                    [{"name": "build", "template": "work"}],
                    [{"name": "approve", "template": "approve"}],
                    [{"name": "deploy", "template": "work"}],
                ],
            },
            {"name": "approve", "suspend": approve},
            {"name": "work", "container": _container("echo working", "sleep 2")},
            {"name": "notify", "container": _container("echo release is {{workflow.status}}")},
        ],
    }
    if on_exit:
        spec["onExit"] = "notify"
    return spec


def _submit(custom: client.CustomObjectsApi, spec: dict[str, Any]) -> str:
    body = {
        "apiVersion": f"{G}/{V}",
        "kind": "Workflow",
        "metadata": {"generateName": "release-"},
        "spec": spec,
    }
    return str(custom.create_namespaced_custom_object(G, V, NS, "workflows", body)["metadata"]["name"])


def _get(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return dict(custom.get_namespaced_custom_object(G, V, NS, "workflows", name))


def _nodes(wf: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["displayName"]: n for n in wf.get("status", {}).get("nodes", {}).values()}


def _suspended(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    """Wait until the `approve` node is waiting; return the workflow as it is then."""
    return wait_until(
        lambda: (wf := _get(custom, name)) and _nodes(wf).get("approve", {}).get("phase") == "Running" and wf,
        timeout=10,
        message="the approve step to be suspended",
    )


def _finished(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return wait_until(
        lambda: (
            (wf := _get(custom, name)).get("status", {}).get("phase") in ("Succeeded", "Failed", "Error")
            and wf
        ),
        timeout=15,
        message=f"workflow {name} to finish",
    )


def _resume(custom: client.CustomObjectsApi, name: str, node_id: str, *, as_argo: bool = True) -> None:
    """What `argo resume` writes: the node Succeeded with its end time, and `spec.suspend` cleared.

    `as_argo=False` writes only the phase, as a hand-made `kubectl patch` would: the end time
    then comes from the controller, which shows that it saw the resume.
    """
    node: dict[str, Any] = {"phase": "Succeeded"}
    if as_argo:
        node["finishedAt"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {"status": {"nodes": {node_id: node}}}
    custom.patch_namespaced_custom_object_status(G, V, NS, "workflows", name, status)
    if as_argo:
        custom.patch_namespaced_custom_object(G, V, NS, "workflows", name, {"spec": {"suspend": None}})


def test_a_suspended_step_holds_the_workflow_running_until_it_is_resumed(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    name = _submit(custom, _release({}))

    waiting = _suspended(custom, name)

    nodes = _nodes(waiting)
    assert waiting["status"]["phase"] == "Running"
    assert nodes["approve"]["type"] == "Suspend" and nodes["approve"]["templateName"] == "approve"
    assert nodes["build"]["phase"] == "Succeeded"
    assert "deploy" not in nodes
    assert waiting["status"]["progress"] == "1/1"  # Suspend nodes are not pods

    _resume(custom, name, nodes["approve"]["id"])
    wf = _finished(custom, name)

    nodes = _nodes(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["approve"]["phase"] == "Succeeded"
    assert nodes["deploy"]["phase"] == "Succeeded"
    assert nodes["deploy"]["startedAt"] >= nodes["approve"]["finishedAt"]
    assert wf["status"]["progress"] == "2/2"


def test_a_suspend_with_a_duration_resumes_by_itself_after_the_scaled_time(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    name = _submit(custom, _release({"duration": "1m"}))  # 0.6 s at the tests' time scale

    wf = _finished(custom, name)

    nodes = _nodes(wf)
    assert wf["status"]["phase"] == "Succeeded"
    assert nodes["approve"]["type"] == "Suspend" and nodes["approve"]["phase"] == "Succeeded"
    assert nodes["deploy"]["phase"] == "Succeeded"


def test_a_suspend_with_a_duration_that_is_not_one_is_an_error(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    name = _submit(custom, _release({"duration": "soon"}))

    wf = _finished(custom, name)

    approve = _nodes(wf)["approve"]
    assert wf["status"]["phase"] == "Failed"
    assert approve["phase"] == "Error" and approve["message"] == "invalid suspend duration 'soon'"
    assert "deploy" not in _nodes(wf)


def test_stopping_a_suspended_workflow_fails_the_waiting_step_and_runs_the_exit_handler(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    name = _submit(custom, _release({}, on_exit=True))
    _suspended(custom, name)

    custom.patch_namespaced_custom_object(G, V, NS, "workflows", name, {"spec": {"shutdown": "Stop"}})
    wf = _finished(custom, name)

    nodes = _nodes(wf)
    assert wf["status"]["phase"] == "Failed"
    assert wf["status"]["message"] == "Stopped with strategy 'Stop'"
    assert nodes["approve"]["phase"] == "Failed"
    assert nodes["approve"]["message"] == "Stopped with strategy 'Stop'"
    assert "deploy" not in nodes
    exit_node = next(n for n in nodes.values() if n["name"].endswith(".onExit"))
    assert exit_node["phase"] == "Succeeded"


def test_terminating_a_suspended_workflow_skips_the_exit_handler(
    custom: client.CustomObjectsApi, workflows: WorkflowController
) -> None:
    name = _submit(custom, _release({"duration": "6h"}, on_exit=True))
    _suspended(custom, name)

    custom.patch_namespaced_custom_object(G, V, NS, "workflows", name, {"spec": {"shutdown": "Terminate"}})
    wf = _finished(custom, name)

    assert wf["status"]["message"] == "Stopped with strategy 'Terminate'"
    assert _nodes(wf)["approve"]["message"] == "Stopped with strategy 'Terminate'"
    assert not any(n["name"].endswith(".onExit") for n in wf["status"]["nodes"].values())


def test_a_resume_of_one_of_two_parallel_suspends_sent_while_the_watch_was_down_is_seen(
    custom: client.CustomObjectsApi, workflows: WorkflowController, kube: KubeApiServer
) -> None:
    spec = {
        "entrypoint": "main",
        "templates": [
            {
                "name": "main",
                "steps": [
                    [
                        {"name": "approve-eu", "template": "approve"},
                        {"name": "approve-us", "template": "approve"},
                        {"name": "build", "template": "work"},
                    ]
                ],
            },
            {"name": "approve", "suspend": {}},
            {"name": "work", "container": _container("echo working", "sleep 1")},
        ],
    }
    name = _submit(custom, spec)
    waiting = wait_until(
        lambda: (
            (wf := _get(custom, name))
            and _nodes(wf).get("build", {}).get("phase") == "Succeeded"
            and _nodes(wf).get("approve-us", {}).get("phase") == "Running"
            and wf
        ),
        timeout=10,
        message="both approvals waiting and the build done",
    )

    kube.faults.compact()
    kube.faults.drop_watches()
    _resume(custom, name, _nodes(waiting)["approve-eu"]["id"], as_argo=False)
    wait_until(
        lambda: _nodes(_get(custom, name))["approve-eu"].get("finishedAt") is not None,
        timeout=10,
        message="the controller to end the resumed approval",
    )
    still = _get(custom, name)
    assert _nodes(still)["approve-eu"]["phase"] == "Succeeded"
    assert still["status"]["phase"] == "Running"
    assert _nodes(still)["approve-us"]["phase"] == "Running"

    _resume(custom, name, _nodes(still)["approve-us"]["id"])
    wf = _finished(custom, name)

    assert wf["status"]["phase"] == "Succeeded"
    assert {n: _nodes(wf)[n]["phase"] for n in ("approve-eu", "approve-us", "build")} == {
        "approve-eu": "Succeeded",
        "approve-us": "Succeeded",
        "build": "Succeeded",
    }
