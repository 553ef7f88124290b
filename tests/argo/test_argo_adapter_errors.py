"""How Kubernetes failures reach the bot: one `KubeError` subclass per meaning, with the apiserver's
own message, never a library exception and never a credential."""

from __future__ import annotations

import json
import socket

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.argo import workflows
from bot.argo.errors import kube_errors, to_bot_error
from bot.errors import KubeConflict, KubeError, KubeForbidden, KubeGone, KubeNotFound
from bot.sandbox.kube import KubeApiServer

NS = "argo"


def _client(url: str, token: str) -> client.ApiClient:
    return client.ApiClient(client.Configuration(host=url, api_key={"authorization": f"Bearer {token}"}))


def test_a_user_without_rights_is_forbidden_with_the_rbac_message(
    kube: KubeApiServer, viewer_api: client.ApiClient
) -> None:
    with pytest.raises(KubeForbidden) as caught:
        workflows.submit_workflow(
            viewer_api, namespace=NS, template="hello", parameters={}, labels={}, annotations={}
        )

    assert caught.value.status == 403
    assert 'User "viewer" cannot create resource "workflows"' in str(caught.value)
    assert str(caught.value).startswith("submit Workflow from template argo/hello: ")
    assert isinstance(caught.value.__cause__, ApiException)
    assert kube.store.list("argoproj.io", "v1alpha1", "workflows", NS) == []


def test_a_rejected_token_is_forbidden_and_the_token_is_not_repeated(kube: KubeApiServer) -> None:
    stranger = _client(kube.url, "not-a-valid-token-s3cr3t")
    try:
        with pytest.raises(KubeForbidden) as caught:
            workflows.list_templates(stranger, namespace=NS)
    finally:
        stranger.close()  # type: ignore[no-untyped-call]

    assert caught.value.status == 401
    assert "s3cr3t" not in str(caught.value)


def test_an_invalid_object_is_reported_with_the_field_at_fault(
    kube: KubeApiServer, api: client.ApiClient
) -> None:
    with pytest.raises(KubeError) as caught:
        workflows.submit_workflow(
            api,
            namespace=NS,
            template="hello",
            parameters={},
            labels={},
            annotations={},
            generate_name="Not_A_Name-",
        )

    assert caught.value.status == 422
    assert "Not_A_Name-" in str(caught.value)
    assert type(caught.value) is KubeError


def test_a_server_error_keeps_its_status(kube: KubeApiServer, api: client.ApiClient) -> None:
    kube.faults.fail_next(1, status=503, verb="list")

    with pytest.raises(KubeError) as caught:
        workflows.list_templates(api, namespace=NS)

    assert caught.value.status == 503
    assert "injected fault" in str(caught.value)
    assert workflows.list_templates(api, namespace=NS)[0].name == "db-migration"


def test_an_unreachable_server_is_a_kube_error_without_status() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    configuration.retries = 0
    unreachable = client.ApiClient(configuration)
    try:
        with pytest.raises(KubeError) as caught:
            workflows.get_workflow(unreachable, namespace=NS, name="x")
    finally:
        unreachable.close()  # type: ignore[no-untyped-call]

    assert caught.value.status is None
    assert str(caught.value).startswith("get Workflow argo/x: cannot reach the Kubernetes API")


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (404, KubeNotFound),
        (409, KubeConflict),
        (401, KubeForbidden),
        (403, KubeForbidden),
        (410, KubeGone),
        (422, KubeError),
        (429, KubeError),
        (500, KubeError),
        (504, KubeError),
    ],
)
def test_each_status_maps_to_its_error(status: int, kind: type[KubeError]) -> None:
    body = json.dumps({"kind": "Status", "message": f"the server says {status}", "code": status})

    error = to_bot_error(ApiException(status=status, reason="Reason", body=body), what="do it")

    assert type(error) is kind
    assert error.status == status
    assert str(error) == f"do it: the server says {status}"


def test_a_watch_expiry_without_body_uses_the_reason() -> None:
    error = to_bot_error(
        ApiException(status=410, reason="Expired: too old resource version: 12 (40)"), what="watch workflows"
    )

    assert isinstance(error, KubeGone)
    assert str(error) == "watch workflows: Expired: too old resource version: 12 (40)"


def test_messages_are_truncated_and_scrubbed_of_credentials() -> None:
    secrets = "Authorization: Bearer eyJhbGciOi.secret k8s-aws-v1.aHR0cHM6Ly9zdHM xoxb-1234-abcd"
    body = json.dumps({"message": f"proxy echoed {secrets} " + "x" * 1000})

    text = str(to_bot_error(ApiException(status=500, body=body), what="list workflows"))

    assert "eyJhbGciOi" not in text and "aHR0cHM6Ly9zdHM" not in text and "xoxb-1234" not in text
    assert text.count("[redacted]") == 3
    assert len(text) <= len("list workflows: ") + 300
    assert text.endswith("…")


def test_kube_errors_converts_connection_failures_and_keeps_the_cause() -> None:
    with pytest.raises(KubeError) as caught, kube_errors("ping"):
        raise ConnectionResetError("peer reset")

    assert str(caught.value) == "ping: cannot reach the Kubernetes API (ConnectionResetError: peer reset)"
    assert isinstance(caught.value.__cause__, ConnectionResetError)


def test_kube_errors_lets_other_exceptions_through() -> None:
    with pytest.raises(ValueError, match="a bug"), kube_errors("ping"):
        raise ValueError("a bug")
