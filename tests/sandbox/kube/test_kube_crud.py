"""CRUD, selectors, patches, /status and optimistic concurrency through the official client."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.kube import KubeApiServer

WF = ("argoproj.io", "v1alpha1")
JSON_PATCH = "application/json-patch+json"


def status_of(exc: ApiException) -> dict:
    body = json.loads(exc.body)
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def test_workflow_from_template_gets_generated_name_and_metadata(custom, make_template, make_workflow):
    template = make_template("hello")
    assert template["metadata"]["namespace"] == "argo"

    wf = make_workflow("hello", team="sre")

    meta = wf["metadata"]
    assert meta["name"].startswith("hello-") and len(meta["name"]) == len("hello-") + 5
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > int(template["metadata"]["resourceVersion"])
    assert meta["generation"] == 1
    assert wf["spec"]["workflowTemplateRef"] == {"name": "hello"}
    fetched = custom.get_namespaced_custom_object(*WF, "argo", "workflows", meta["name"])
    assert fetched == wf


def test_get_missing_object_is_a_not_found_status(custom):
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object(*WF, "argo", "workflows", "nope")
    body = status_of(caught.value)
    assert caught.value.status == 404
    assert body["reason"] == "NotFound"
    assert body["message"] == 'workflows.argoproj.io "nope" not found'


def test_create_twice_is_already_exists_and_bad_names_are_invalid(custom, make_template):
    make_template("hello")
    with pytest.raises(ApiException) as caught:
        make_template("hello")
    assert caught.value.status == 409 and status_of(caught.value)["reason"] == "AlreadyExists"

    with pytest.raises(ApiException) as caught:
        make_template("Bad_Name")
    body = status_of(caught.value)
    assert caught.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith('WorkflowTemplate.argoproj.io "Bad_Name" is invalid: metadata.name')

    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(*WF, "argo", "workflows", {"metadata": {}, "spec": {}})
    assert "name or generateName is required" in status_of(caught.value)["message"]


def test_list_filters_by_label_and_field_selectors(custom, make_template, make_workflow):
    make_template("hello")
    a = make_workflow(team="sre", env="prod")["metadata"]["name"]
    b = make_workflow(team="data", env="dev")["metadata"]["name"]
    c = make_workflow(env="dev")["metadata"]["name"]
    make_workflow(namespace="other", team="sre")

    def names(**kw) -> set[str]:
        return {
            o["metadata"]["name"]
            for o in custom.list_namespaced_custom_object(*WF, "argo", "workflows", **kw)["items"]
        }

    assert names() == {a, b, c}
    assert names(label_selector="team=sre") == {a}
    assert names(label_selector="team==sre") == {a}
    assert names(label_selector="team!=sre") == {b, c}
    assert names(label_selector="team in (sre,data),env=dev") == {b}
    assert names(label_selector="env notin (prod)") == {b, c}
    assert names(label_selector="team") == {a, b}
    assert names(label_selector="!team") == {c}
    assert names(field_selector=f"metadata.name={b}") == {b}
    everywhere = custom.list_cluster_custom_object(*WF, "workflows", label_selector="team=sre")
    assert {o["metadata"]["namespace"] for o in everywhere["items"]} == {"argo", "other"}

    with pytest.raises(ApiException) as caught:
        names(field_selector="spec.entrypoint=main")
    assert caught.value.status == 400
    assert status_of(caught.value)["message"] == "field label not supported: spec.entrypoint"


def test_list_pages_with_limit_and_continue(custom, make_template):
    for i in range(5):
        make_template(f"t{i}")
    first = custom.list_namespaced_custom_object(*WF, "argo", "workflowtemplates", limit=2)
    assert [o["metadata"]["name"] for o in first["items"]] == ["t0", "t1"]
    assert first["metadata"]["remainingItemCount"] == 3
    seen = [o["metadata"]["name"] for o in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        page = custom.list_namespaced_custom_object(
            *WF, "argo", "workflowtemplates", limit=2, _continue=token
        )
        seen += [o["metadata"]["name"] for o in page["items"]]
        token = page["metadata"].get("continue")
    assert seen == [f"t{i}" for i in range(5)]
    assert int(first["metadata"]["resourceVersion"]) >= 5


def test_merge_and_json_patches(custom, make_template, make_workflow):
    make_template()
    name = make_workflow()["metadata"]["name"]

    merged = custom.patch_namespaced_custom_object(
        *WF, "argo", "workflows", name, {"metadata": {"labels": {"x": "1"}}, "spec": {"shutdown": "Stop"}}
    )
    assert merged["metadata"]["labels"] == {"x": "1"}
    assert merged["spec"]["shutdown"] == "Stop"
    assert merged["metadata"]["generation"] == 2

    removed = custom.patch_namespaced_custom_object(
        *WF, "argo", "workflows", name, {"spec": {"shutdown": None}}
    )
    assert "shutdown" not in removed["spec"]

    patched = custom.patch_namespaced_custom_object(
        *WF,
        "argo",
        "workflows",
        name,
        [
            {"op": "test", "path": "/spec/workflowTemplateRef/name", "value": "hello"},
            {"op": "add", "path": "/spec/arguments/parameters/-", "value": {"name": "n", "value": "2"}},
            {"op": "replace", "path": "/metadata/labels/x", "value": "2"},
        ],
        _content_type=JSON_PATCH,
    )
    assert patched["spec"]["arguments"]["parameters"][-1] == {"name": "n", "value": "2"}
    assert patched["metadata"]["labels"]["x"] == "2"

    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            *WF,
            "argo",
            "workflows",
            name,
            [
                {"op": "test", "path": "/spec/workflowTemplateRef/name", "value": "other"},
                {"op": "replace", "path": "/metadata/labels/x", "value": "3"},
            ],
            _content_type=JSON_PATCH,
        )
    assert caught.value.status == 422
    after = custom.get_namespaced_custom_object(*WF, "argo", "workflows", name)
    assert after["metadata"]["labels"]["x"] == "2"


def test_strategic_merge_is_refused_for_custom_resources_but_not_builtins(custom, core, make_template):
    make_template()
    with pytest.raises(ApiException) as caught:
        custom.patch_namespaced_custom_object(
            *WF,
            "argo",
            "workflowtemplates",
            "hello",
            {"spec": {}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert caught.value.status == 415 and status_of(caught.value)["reason"] == "UnsupportedMediaType"

    core.create_namespaced_config_map(
        "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"a": "1"})
    )
    patched = core.patch_namespaced_config_map("settings", "default", {"data": {"b": "2"}})  # strategic
    assert patched.data == {"a": "1", "b": "2"}


def test_status_subresource_is_split_from_the_main_resource(custom, make_template, make_workflow):
    make_template()
    wf = make_workflow()
    name = wf["metadata"]["name"]

    running = custom.patch_namespaced_custom_object_status(
        *WF, "argo", "workflows", name, {"status": {"phase": "Running"}, "spec": {"shutdown": "Stop"}}
    )
    assert running["status"] == {"phase": "Running"}
    assert "shutdown" not in running["spec"], "a /status write changes only status"
    assert running["metadata"]["generation"] == 1

    main = custom.patch_namespaced_custom_object(
        *WF, "argo", "workflows", name, {"status": {"phase": "Succeeded"}, "spec": {"shutdown": "Stop"}}
    )
    assert main["status"] == {"phase": "Running"}, "a main-resource write ignores status"
    assert main["spec"]["shutdown"] == "Stop"

    main["status"] = {"phase": "Failed"}
    replaced = custom.replace_namespaced_custom_object_status(*WF, "argo", "workflows", name, main)
    assert replaced["status"] == {"phase": "Failed"}


def test_stale_put_is_a_conflict_with_the_apiserver_message(custom, make_template, make_workflow):
    make_template()
    wf = make_workflow()
    name = wf["metadata"]["name"]
    custom.patch_namespaced_custom_object(
        *WF, "argo", "workflows", name, {"metadata": {"labels": {"a": "b"}}}
    )

    wf["spec"]["shutdown"] = "Terminate"
    with pytest.raises(ApiException) as caught:
        custom.replace_namespaced_custom_object(*WF, "argo", "workflows", name, wf)
    body = status_of(caught.value)
    assert caught.value.status == 409 and body["reason"] == "Conflict"
    assert body["message"] == (
        f'Operation cannot be fulfilled on workflows.argoproj.io "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )

    fresh = custom.get_namespaced_custom_object(*WF, "argo", "workflows", name)
    fresh["spec"]["shutdown"] = "Terminate"
    updated = custom.replace_namespaced_custom_object(*WF, "argo", "workflows", name, fresh)
    assert updated["spec"]["shutdown"] == "Terminate"
    assert int(updated["metadata"]["resourceVersion"]) > int(fresh["metadata"]["resourceVersion"])


def test_dry_run_validates_but_stores_nothing(custom, make_template):
    body = {"metadata": {"name": "dry"}, "spec": {"entrypoint": "main"}}
    answer = custom.create_namespaced_custom_object(*WF, "argo", "workflowtemplates", body, dry_run="All")
    assert answer["metadata"]["name"] == "dry"
    assert custom.list_namespaced_custom_object(*WF, "argo", "workflowtemplates")["items"] == []
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(
            *WF, "argo", "workflowtemplates", {"metadata": {"name": "-bad"}}, dry_run="All"
        )
    assert caught.value.status == 422

    make_template("real")
    custom.patch_namespaced_custom_object(
        *WF, "argo", "workflowtemplates", "real", {"spec": {"entrypoint": "other"}}, dry_run="All"
    )
    stored = custom.get_namespaced_custom_object(*WF, "argo", "workflowtemplates", "real")
    assert stored["spec"]["entrypoint"] == "main"


def test_delete_returns_the_object_and_finalizers_delay_it(custom, make_template, make_workflow):
    make_template()
    name = make_workflow()["metadata"]["name"]
    gone = custom.delete_namespaced_custom_object(*WF, "argo", "workflows", name)
    assert gone["metadata"]["name"] == name
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object(*WF, "argo", "workflows", name)
    assert caught.value.status == 404

    held = custom.create_namespaced_custom_object(
        *WF,
        "argo",
        "workflows",
        {"metadata": {"name": "held", "finalizers": ["example.com/keep"]}, "spec": {}},
    )
    custom.delete_namespaced_custom_object(*WF, "argo", "workflows", "held")  # 202 Accepted: pending
    pending = custom.get_namespaced_custom_object(*WF, "argo", "workflows", "held")
    assert pending["metadata"]["deletionTimestamp"]
    custom.patch_namespaced_custom_object(
        *WF, "argo", "workflows", "held", {"metadata": {"finalizers": None}}
    )
    with pytest.raises(ApiException) as caught:
        custom.get_namespaced_custom_object(*WF, "argo", "workflows", "held")
    assert caught.value.status == 404
    assert held["metadata"]["uid"]


def test_cluster_scoped_templates_and_namespaces(custom, core):
    cwft = custom.create_cluster_custom_object(
        *WF,
        "clusterworkflowtemplates",
        {"metadata": {"name": "shared", "namespace": "ignored"}, "spec": {"entrypoint": "main"}},
    )
    assert "namespace" not in cwft["metadata"]
    assert [
        o["metadata"]["name"]
        for o in custom.list_cluster_custom_object(*WF, "clusterworkflowtemplates")["items"]
    ] == ["shared"]
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "argo", "argocd"} <= names
    assert core.read_namespace("argo").status.phase == "Active"


def test_lease_create_and_update_with_conflict(api_client):
    leases = client.CoordinationV1Api(api_client)
    lease = leases.create_namespaced_lease(
        "argo",
        client.V1Lease(
            metadata=client.V1ObjectMeta(name="chatops-leader"),
            spec=client.V1LeaseSpec(holder_identity="replica-a", lease_duration_seconds=15),
        ),
    )
    stale_rv = lease.metadata.resource_version

    lease.spec.holder_identity = "replica-a"
    lease.spec.lease_transitions = 1
    renewed = leases.replace_namespaced_lease("chatops-leader", "argo", lease)
    assert renewed.metadata.resource_version != stale_rv

    contender = client.V1Lease(
        metadata=client.V1ObjectMeta(name="chatops-leader", resource_version=stale_rv),
        spec=client.V1LeaseSpec(holder_identity="replica-b", lease_duration_seconds=15),
    )
    with pytest.raises(ApiException) as caught:
        leases.replace_namespaced_lease("chatops-leader", "argo", contender)
    assert caught.value.status == 409
    assert leases.read_namespaced_lease("chatops-leader", "argo").spec.holder_identity == "replica-a"


def test_in_process_store_seeds_objects_clients_then_see(kube_server: KubeApiServer, custom):
    store = kube_server.store
    app = store.create(
        "argoproj.io",
        "v1alpha1",
        "applications",
        "argocd",
        {
            "metadata": {"name": "guestbook"},
            "spec": {"project": "default"},
            "status": {"sync": {"status": "Synced"}, "history": [{"id": 1, "revision": "abc"}]},
        },
    )
    assert app["status"]["history"][0]["revision"] == "abc"
    seen = custom.get_namespaced_custom_object(*WF, "argocd", "applications", "guestbook")
    assert seen["status"]["sync"]["status"] == "Synced"
    store.patch_status(
        "argoproj.io", "v1alpha1", "applications", "argocd", "guestbook", {"health": {"status": "Healthy"}}
    )
    assert store.get("argoproj.io", "v1alpha1", "applications", "argocd", "guestbook")["status"][
        "health"
    ] == {"status": "Healthy"}
    with pytest.raises(KeyError):
        store.get("argoproj.io", "v1alpha1", "applications", "argocd", "missing")
