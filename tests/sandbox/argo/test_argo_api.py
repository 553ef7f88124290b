"""The Argo CD API server stand-in answers `managed-resources` as Argo CD does, read by the bot's client.

Two Kubernetes stand-ins over real sockets: `kube` hosts Argo CD (its Applications), `prod` is
the destination. The stand-in is read with the bot's own `bot.argo.diff.ArgoCdApi` over HTTP.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any, cast

import pytest
from kubernetes import client

from bot.argo.diff import ArgoCdApi, ArgoCdApiForbidden, ArgoCdApiNotFound, unified_diff
from bot.sandbox.argo import ApplicationController, AppResource, Destination
from bot.sandbox.argo.api import ArgoCdApiServer
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

G, V, NS = "argoproj.io", "v1alpha1", "argocd"
PROD_TOKEN = "prod-argocd"
TOKEN = "argo-test-admin"  # the admin token of the `kube` fixture (conftest.py)
TIME_SCALE = 0.01
SCRIPT = [
    AppResource(kind="Job", name="migrate", api_version="batch/v1", hook="PreSync"),
    AppResource(kind="Deployment", name="web", api_version="apps/v1"),
    AppResource(kind="Service", name="web", wave=1),
]


@pytest.fixture
def prod(kube: KubeApiServer) -> Iterator[KubeApiServer]:
    """The destination cluster (the `kube` fixture checks no thread is left behind)."""
    server = KubeApiServer(name="prod", tokens={PROD_TOKEN: "argocd-application-controller"}).start()
    yield server
    server.stop()


@pytest.fixture
def controller(kube: KubeApiServer, prod: KubeApiServer) -> Iterator[ApplicationController]:
    where = Destination(api_url=prod.url, token=PROD_TOKEN)
    apps = ApplicationController(
        api_url=kube.url, token=TOKEN, time_scale=TIME_SCALE, destinations={"prod": where}
    ).start()
    assert apps.wait_synced(10)
    yield apps
    apps.stop()


@pytest.fixture
def server(controller: ApplicationController) -> Iterator[ArgoCdApiServer]:
    with ArgoCdApiServer(controller=controller, namespace=NS) as started:
        yield started


def _create_app(custom: client.CustomObjectsApi, name: str, *, target: str) -> None:
    body = {
        "apiVersion": f"{G}/{V}",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/web.git", "path": "web", "targetRevision": target},
            "destination": {"name": "prod", "namespace": "shop"},
        },
    }
    custom.create_namespaced_custom_object(G, V, NS, "applications", body)


def _sync(custom: client.CustomObjectsApi, name: str) -> None:
    operation = {"sync": {}, "initiatedBy": {"username": "bob@example.com"}}
    custom.patch_namespaced_custom_object(G, V, NS, "applications", name, {"operation": operation})

    def succeeded() -> bool:
        app = cast(dict[str, Any], custom.get_namespaced_custom_object(G, V, NS, "applications", name))
        state = (app.get("status") or {}).get("operationState") or {}
        return state.get("phase") == "Succeeded" and not app.get("operation")

    wait_until(succeeded, timeout=10, message=f"the sync of {name}")


def _raw_get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_a_token_is_required(
    server: ArgoCdApiServer, controller: ApplicationController, custom: client.CustomObjectsApi
) -> None:
    controller.script_app("web", resources=SCRIPT)
    _create_app(custom, "web", target="v1.0.0")
    path = f"{server.url}/api/v1/applications/web/managed-resources?appNamespace={NS}"

    status, body = _raw_get(path, {})
    assert status == 401
    assert body == {"error": "no session information", "code": 16, "message": "no session information"}
    with pytest.raises(ArgoCdApiForbidden) as refused:
        ArgoCdApi(server.url, "not-the-token").managed_resources("web", NS)
    assert refused.value.status == 401
    assert "not-the-token" not in str(refused.value)

    status, body = _raw_get(path, {"Authorization": f"Bearer {server.token}"})
    assert status == 200
    assert [(item["kind"], item["name"], item["hook"]) for item in body["items"]] == [
        ("Job", "migrate", True),
        ("Deployment", "web", False),
        ("Service", "web", False),
    ]


def test_an_out_of_sync_app_shows_its_image_changing(
    server: ArgoCdApiServer, controller: ApplicationController, custom: client.CustomObjectsApi
) -> None:
    controller.script_app("web", resources=SCRIPT)
    _create_app(custom, "web", target="v1.0.0")
    api = ArgoCdApi(server.url, server.token)

    # never synced: nothing is live, the sync would create the Deployment and the Service
    before = api.managed_resources("web", NS)
    deployment = next(item for item in before if item["kind"] == "Deployment")
    assert deployment["group"] == "apps"
    assert deployment["namespace"] == "shop"
    assert json.loads(deployment["normalizedLiveState"]) is None
    created = unified_diff(before).splitlines()
    assert "+      - image: web:v1.0.0" in created
    assert "+kind: Service" in created
    assert not any("migrate" in line for line in created)  # hooks are left out by the bot

    _sync(custom, "web")
    assert unified_diff(api.managed_resources("web", NS)) == ""  # Synced: nothing to show

    custom.patch_namespaced_custom_object(
        G, V, NS, "applications", "web", {"spec": {"source": {"targetRevision": "v1.1.0"}}}
    )
    items = api.managed_resources("web", NS)
    live = json.loads(next(item for item in items if item["kind"] == "Deployment")["normalizedLiveState"])
    assert live["metadata"]["labels"] == {"app.kubernetes.io/instance": "web"}  # as read from the cluster
    diff = unified_diff(items).splitlines()
    assert diff[:2] == ["--- live/Deployment/shop/web", "+++ target/Deployment/shop/web"]
    assert "-      - image: web:v1.0.0" in diff
    assert "+      - image: web:v1.1.0" in diff
    assert not any("Service" in line for line in diff)  # unchanged resources are not in the diff


def test_an_unknown_app_is_404(server: ArgoCdApiServer) -> None:
    api = ArgoCdApi(server.url, server.token)
    with pytest.raises(ArgoCdApiNotFound) as missing:
        api.managed_resources("nope", NS)
    assert missing.value.status == 404
    assert 'applications.argoproj.io "nope" not found' in str(missing.value)
    status, body = _raw_get(
        f"{server.url}/api/v1/applications/nope/managed-resources",
        {"Authorization": f"Bearer {server.token}"},
    )
    assert (status, body["code"]) == (404, 5)
