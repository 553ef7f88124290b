"""Templates, submit, stop/terminate and retry through `bot.argo.workflows`, against the Kubernetes
stand-in and its Argo workflow controller, over the official client the bot uses."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from bot.argo import workflows
from bot.argo.parameters import TemplateParam, check_parameters
from bot.errors import KubeConflict, KubeNotFound, UserError
from bot.sandbox.argo import WorkflowController
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

NS = "argo"
G, V = "argoproj.io", "v1alpha1"


def _stored(kube: KubeApiServer, name: str) -> dict[str, Any]:
    return kube.store.get(G, V, "workflows", NS, name)


def _finished(api: client.ApiClient, name: str, timeout: float = 15) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        wf = workflows.get_workflow(api, namespace=NS, name=name)
        return wf if wf.get("status", {}).get("phase") in workflows.FINISHED_PHASES else None

    return wait_until(done, timeout=timeout, message=f"workflow {name} to finish")


def _display_names(wf: dict[str, Any]) -> set[str]:
    return {node["displayName"] for node in wf.get("status", {}).get("nodes", {}).values()}


def _run_labels(run_id: str) -> dict[str, str]:
    return {workflows.LABEL_RUN_ID: run_id, workflows.LABEL_REQUESTER: "U0123ABCD"}


def _submit(api: client.ApiClient, template: str, run_id: str, **parameters: str) -> workflows.WorkflowRef:
    return workflows.submit_workflow(
        api,
        namespace=NS,
        template=template,
        parameters=parameters,
        labels=_run_labels(run_id),
        annotations={workflows.ANNOTATION_REQUESTED_BY: "alice@example.com"},
    )


def test_templates_are_listed_with_their_parameters_enums_and_defaults(api: client.ApiClient) -> None:
    templates = workflows.list_templates(api, namespace=NS)

    assert [t.name for t in templates] == [
        "db-migration",
        "deploy-report",
        "hello",
        "nightly-report",
        "orders-backfill",
        "release",
    ]
    report = next(t for t in templates if t.name == "deploy-report")
    assert report.namespace == NS
    assert report.entrypoint == "report"
    assert report.params == (
        TemplateParam("env", default="dev", enum=("dev", "staging", "prod"), description="target"),
        TemplateParam("days", default="7"),
    )
    assert workflows.get_template(api, namespace=NS, name="hello").params == (
        TemplateParam("greeting", default="hello"),
    )
    assert workflows.list_templates(api, namespace="default") == []


def test_a_template_description_comes_from_argos_ui_annotation(api: client.ApiClient) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        G,
        V,
        NS,
        "workflowtemplates",
        {
            "apiVersion": f"{G}/{V}",
            "kind": "WorkflowTemplate",
            "metadata": {
                "name": "nightly",
                "annotations": {workflows.ANNOTATION_DESCRIPTION: "Rebuilds the search index"},
            },
            "spec": {
                "entrypoint": "main",
                "arguments": {"parameters": [{"name": "shard"}, {"name": "size", "value": 3}]},
                "templates": [{"name": "main", "container": {"image": "alpine"}}],
            },
        },
    )

    nightly = workflows.get_template(api, namespace=NS, name="nightly")

    assert nightly.description == "Rebuilds the search index"
    assert nightly.params == (TemplateParam("shard"), TemplateParam("size", default="3"))
    assert nightly.params[0].is_required


def test_a_missing_template_is_not_found_with_a_clear_message(api: client.ApiClient) -> None:
    with pytest.raises(KubeNotFound) as caught:
        workflows.get_template(api, namespace=NS, name="nope")

    assert caught.value.status == 404
    assert str(caught.value) == (
        'get WorkflowTemplate argo/nope: workflowtemplates.argoproj.io "nope" not found'
    )


def test_submit_creates_exactly_the_strict_mode_shape(kube: KubeApiServer, api: client.ApiClient) -> None:
    """No controller runs here, so what the server stores is exactly what the bot sent."""
    template = workflows.get_template(api, namespace=NS, name="deploy-report")
    values = check_parameters(template.params, [("days", "30"), ("env", "prod")])

    ref = workflows.submit_workflow(
        api,
        namespace=NS,
        template="deploy-report",
        parameters=values,
        labels=_run_labels("run-42"),
        annotations={
            workflows.ANNOTATION_REQUESTED_BY: "alice@example.com",
            workflows.ANNOTATION_CHANNEL: "C0PRODOPS",
        },
    )

    stored = _stored(kube, ref.name)
    assert ref.name.startswith("deploy-report-") and len(ref.name) == len("deploy-report-") + 5
    assert ref.namespace == NS
    assert ref.uid == stored["metadata"]["uid"]
    assert ref.resource_version == stored["metadata"]["resourceVersion"]
    assert set(stored) == {"apiVersion", "kind", "metadata", "spec"}
    assert (stored["apiVersion"], stored["kind"]) == ("argoproj.io/v1alpha1", "Workflow")
    assert stored["spec"] == {
        "workflowTemplateRef": {"name": "deploy-report"},
        "arguments": {"parameters": [{"name": "env", "value": "prod"}, {"name": "days", "value": "30"}]},
    }
    assert stored["metadata"]["generateName"] == "deploy-report-"
    assert stored["metadata"]["labels"] == {
        "argo-chatops/run-id": "run-42",
        "argo-chatops/requester": "U0123ABCD",
    }
    assert stored["metadata"]["annotations"] == {
        "argo-chatops/requested-by": "alice@example.com",
        "argo-chatops/channel": "C0PRODOPS",
    }


def test_values_that_look_like_yaml_arrive_as_plain_strings(
    kube: KubeApiServer, api: client.ApiClient
) -> None:
    tricky = "prod\nspec:\n  serviceAccountName: admin # {{workflow.name}} ' \""
    ref = _submit(api, "hello", "run-yaml", greeting=tricky)

    stored = _stored(kube, ref.name)
    assert stored["spec"]["arguments"]["parameters"] == [{"name": "greeting", "value": tricky}]
    assert set(stored["spec"]) == {"workflowTemplateRef", "arguments"}


def test_a_submitted_run_is_executed_by_argo_and_found_by_its_run_label(
    api: client.ApiClient, controller: WorkflowController
) -> None:
    first = _submit(api, "deploy-report", "run-1", env="staging", days="7")
    second = _submit(api, "hello", "run-2", greeting="hi")

    done = _finished(api, first.name)

    assert done["status"]["phase"] == "Succeeded"
    assert _display_names(done) >= {"collect", "summarise", "charts", "publish"}
    assert done["metadata"]["labels"][workflows.LABEL_WORKFLOW_TEMPLATE] == "deploy-report"
    assert workflows.template_of(done) == "deploy-report"
    mine = workflows.list_workflows(api, namespace=NS, label_selector=f"{workflows.LABEL_RUN_ID}=run-1")
    assert [wf["metadata"]["name"] for wf in mine] == [first.name]
    everything = workflows.list_workflows(api, namespace=NS, label_selector=workflows.LABEL_RUN_ID)
    assert {wf["metadata"]["name"] for wf in everything} == {first.name, second.name}


def test_retry_resubmits_with_the_same_parameters(kube: KubeApiServer, api: client.ApiClient) -> None:
    original = _submit(api, "deploy-report", "run-a", env="prod", days="3")
    given = workflows.submitted_parameters(workflows.get_workflow(api, namespace=NS, name=original.name))

    again = _submit(api, "deploy-report", "run-b", **given)

    assert given == {"env": "prod", "days": "3"}
    assert again.name != original.name
    assert _stored(kube, again.name)["spec"] == _stored(kube, original.name)["spec"]


LONG_JOB = {
    "apiVersion": f"{G}/{V}",
    "kind": "WorkflowTemplate",
    "metadata": {"name": "long-job"},
    "spec": {
        "entrypoint": "main",
        "onExit": "cleanup",
        "templates": [
            {
                "name": "main",
                "steps": [[{"name": "work", "template": "slow"}], [{"name": "after", "template": "quick"}]],
            },
            {
                "name": "slow",
                "container": {
                    "image": "alpine",
                    "command": ["sh", "-c"],
                    "args": ["echo working; sleep 3000"],
                },
            },
            {
                "name": "quick",
                "container": {"image": "alpine", "command": ["sh", "-c"], "args": ["echo done"]},
            },
            {
                "name": "cleanup",
                "container": {"image": "alpine", "command": ["sh", "-c"], "args": ["echo cleaning up"]},
            },
        ],
    },
}


@pytest.mark.parametrize(("strategy", "exit_handler_runs"), [("Stop", True), ("Terminate", False)])
def test_stop_lets_the_exit_handler_run_and_terminate_does_not(
    api: client.ApiClient,
    controller: WorkflowController,
    strategy: workflows.ShutdownStrategy,
    exit_handler_runs: bool,
) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(G, V, NS, "workflowtemplates", LONG_JOB)
    ref = _submit(api, "long-job", "run-long")
    wait_until(
        lambda: "work" in _display_names(workflows.get_workflow(api, namespace=NS, name=ref.name)),
        timeout=10,
        message="the long step to start",
    )

    patched = workflows.set_shutdown(api, namespace=NS, name=ref.name, strategy=strategy)

    assert patched.name == ref.name
    done = _finished(api, ref.name)
    assert done["spec"]["shutdown"] == strategy
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["message"] == f"Stopped with strategy '{strategy}'"
    assert "after" not in _display_names(done)
    assert (f"{ref.name}.onExit" in _display_names(done)) is exit_handler_runs


def test_a_conflict_on_shutdown_is_retried(kube: KubeApiServer, api: client.ApiClient) -> None:
    ref = _submit(api, "hello", "run-409")
    pauses: list[float] = []
    kube.faults.fail_next(2, status=409, verb="PATCH")

    workflows.set_shutdown(api, namespace=NS, name=ref.name, strategy="Terminate", sleep=pauses.append)

    assert _stored(kube, ref.name)["spec"]["shutdown"] == "Terminate"
    assert len(pauses) == 2 and pauses[0] < pauses[1]


def test_a_conflict_that_persists_is_reported(kube: KubeApiServer, api: client.ApiClient) -> None:
    ref = _submit(api, "hello", "run-409-forever")
    kube.faults.fail_next(3, status=409, verb="PATCH")

    with pytest.raises(KubeConflict, match=f"terminate Workflow argo/{ref.name}"):
        workflows.set_shutdown(
            api, namespace=NS, name=ref.name, strategy="Terminate", attempts=3, sleep=lambda _: None
        )

    assert "shutdown" not in _stored(kube, ref.name)["spec"]


def test_a_finished_run_cannot_be_stopped(api: client.ApiClient, controller: WorkflowController) -> None:
    ref = _submit(api, "hello", "run-done")
    _finished(api, ref.name)

    with pytest.raises(UserError, match=r"has already finished \(Succeeded\): there is nothing to stop"):
        workflows.set_shutdown(api, namespace=NS, name=ref.name, strategy="Stop")


def test_stopping_an_unknown_workflow_is_not_found(api: client.ApiClient) -> None:
    with pytest.raises(KubeNotFound, match=r'workflows\.argoproj\.io "ghost" not found'):
        workflows.set_shutdown(api, namespace=NS, name="ghost", strategy="Stop")
