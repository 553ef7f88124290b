"""Bearer tokens, authorization, fault injection and the `/_sandbox/` control API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

WF = ("argoproj.io", "v1alpha1")


def control(srv: KubeApiServer, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST to the control API the way `curl -X POST -d '{...}'` would."""
    request = urllib.request.Request(
        f"{srv.url}/_sandbox/{action}",
        data=json.dumps(body or {}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_unknown_or_missing_token_is_401(kube_server: KubeApiServer, client_for):
    bad = client.CustomObjectsApi(client_for(kube_server.url, "not-a-token"))
    with pytest.raises(ApiException) as caught:
        bad.list_namespaced_custom_object(*WF, "argo", "workflows")
    assert caught.value.status == 401
    body = json.loads(caught.value.body)
    assert body["kind"] == "Status" and body["reason"] == "Unauthorized"
    assert "not-a-token" not in caught.value.body

    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{kube_server.url}/apis/argoproj.io/v1alpha1/workflows", timeout=5)
    assert anonymous.value.code == 401


def test_added_tokens_and_the_authenticate_hook(client_for):
    def verify(token: str) -> str | None:
        if token == "broken":
            raise RuntimeError("STS unreachable")
        return "eks-user" if token.startswith("k8s-aws-v1.") else None

    with KubeApiServer(name="hooked", tokens={}, authenticate=verify) as srv:
        ok = client.CoreV1Api(client_for(srv.url, "k8s-aws-v1.abc"))
        assert "argo" in {ns.metadata.name for ns in ok.list_namespace().items}

        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(client_for(srv.url, "other")).list_namespace()
        assert caught.value.status == 401

        with pytest.raises(ApiException) as caught:
            client.CoreV1Api(client_for(srv.url, "broken")).list_namespace()
        assert caught.value.status == 500
        assert "broken" not in caught.value.body

        srv.add_token("late", "someone")
        assert client.CoreV1Api(client_for(srv.url, "late")).list_namespace().items


def test_authorization_hook_answers_403_with_rbac_wording(client_for):
    def authorize(user: str, verb: str, group: str, plural: str, namespace: str | None) -> bool:
        return user == "admin" or verb in ("get", "list", "watch")

    with KubeApiServer(
        name="rbac", tokens={"a": "admin", "v": "viewer"}, authorize=authorize, forbidden_users={"banned"}
    ) as srv:
        srv.add_token("b", "banned")
        viewer = client.CustomObjectsApi(client_for(srv.url, "v"))
        assert viewer.list_namespaced_custom_object(*WF, "argo", "workflows")["items"] == []
        with pytest.raises(ApiException) as caught:
            viewer.create_namespaced_custom_object(
                *WF, "argo", "workflows", {"metadata": {"generateName": "x-"}, "spec": {}}
            )
        body = json.loads(caught.value.body)
        assert caught.value.status == 403 and body["reason"] == "Forbidden"
        assert body["message"] == (
            'workflows.argoproj.io is forbidden: User "viewer" cannot create resource '
            '"workflows" in API group "argoproj.io" in the namespace "argo"'
        )
        with pytest.raises(ApiException) as caught:
            client.CustomObjectsApi(client_for(srv.url, "b")).list_cluster_custom_object(
                *WF, "clusterworkflowtemplates"
            )
        assert json.loads(caught.value.body)["message"].endswith("at the cluster scope")


def test_injected_server_errors_hit_only_the_matching_requests(kube_server: KubeApiServer, custom, core):
    kube_server.faults.fail_next(2, status=503, path_prefix="/apis/argoproj.io", verb="create")
    core.list_namespace()  # not matching: unaffected
    custom.list_namespaced_custom_object(*WF, "argo", "workflows")  # a list, not a create
    for _ in range(2):
        with pytest.raises(ApiException) as caught:
            custom.create_namespaced_custom_object(
                *WF, "argo", "workflowtemplates", {"metadata": {"name": "t"}, "spec": {}}
            )
        assert caught.value.status == 503
        assert json.loads(caught.value.body)["reason"] == "ServiceUnavailable"
    created = custom.create_namespaced_custom_object(
        *WF, "argo", "workflowtemplates", {"metadata": {"name": "t"}, "spec": {}}
    )
    assert created["metadata"]["name"] == "t"

    kube_server.faults.fail_next(1, status=500)
    with pytest.raises(ApiException) as caught:
        core.list_namespace()
    assert caught.value.status == 500 and json.loads(caught.value.body)["reason"] == "InternalError"


def test_throttling_carries_retry_after(kube_server: KubeApiServer, custom, core):
    kube_server.faults.fail_next(1, status=429, verb="create", retry_after=2)
    with pytest.raises(ApiException) as caught:
        custom.create_namespaced_custom_object(
            *WF, "argo", "workflowtemplates", {"metadata": {"name": "t"}, "spec": {}}
        )
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "2"
    assert json.loads(caught.value.body)["details"]["retryAfterSeconds"] == 2

    # kubernetes 37 retries reads after Retry-After (as client-go does): the caller only sees a delay
    kube_server.faults.fail_next(1, status=429, verb="list", retry_after=1)
    started = time.monotonic()
    assert core.list_namespace().items
    assert time.monotonic() - started >= 1
    assert kube_server.faults.pending_failures() == 0


def test_latency_slows_every_response(kube_server: KubeApiServer, core):
    kube_server.faults.set_latency(0.3)
    started = time.monotonic()
    core.list_namespace()
    assert time.monotonic() - started >= 0.3
    kube_server.faults.set_latency(0)


def test_control_api_switches_the_same_faults(kube_server: KubeApiServer, custom, core, start_watch):
    state = control(kube_server, "faults/fail-next", {"count": 1, "status": 500, "verb": "list"})
    assert state["pendingFailures"] == 1
    with pytest.raises(ApiException) as caught:
        core.list_namespace()
    assert caught.value.status == 500

    collector = start_watch(
        custom.list_namespaced_custom_object, *WF, "argo", "workflows", timeout_seconds=60
    )
    wait_until(lambda: kube_server.open_watches == 1, timeout=5, message="watch to open")
    control(kube_server, "faults/drop-watches")
    assert collector.ended.wait(5)

    old = core.list_namespace().metadata.resource_version
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="fresh")))
    state = control(kube_server, "faults/compact")
    assert int(state["oldestResourceVersion"]) > int(old)
    with pytest.raises(ApiException) as caught:
        list(watch.Watch().stream(core.list_namespace, resource_version=old, timeout_seconds=2))
    assert caught.value.status == 410

    control(kube_server, "faults/latency", {"seconds": 0.2})
    assert kube_server.faults.latency == 0.2
    control(kube_server, "faults/reset")
    assert kube_server.faults.latency == 0

    control(kube_server, "tokens", {"token": "via-curl", "username": "ops"})
    api = client.ApiClient(
        client.Configuration(host=kube_server.url, api_key={"authorization": "Bearer via-curl"})
    )
    try:
        assert client.CoreV1Api(api).read_namespace("fresh").metadata.name == "fresh"
    finally:
        api.close()

    with urllib.request.urlopen(f"{kube_server.url}/_sandbox/", timeout=5) as response:
        assert json.loads(response.read())["name"] == "test"


def test_https_side_serves_the_same_api_with_a_verifiable_certificate(kube_server: KubeApiServer, tmp_path):
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(kube_server.ca_pem)
    config = client.Configuration(
        host=kube_server.https_url, api_key={"authorization": "Bearer sandbox-admin"}
    )
    config.ssl_ca_cert = str(ca_file)
    api = client.ApiClient(config)
    try:
        assert "argo" in {ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items}
    finally:
        api.close()
