"""The sandbox's Argo CD deploys to the destination cluster: live objects with their waves.

Two Kubernetes stand-ins over real sockets: `kube` hosts Argo CD (its Applications), `prod` is
the destination. Everything is read back through the official `kubernetes` client.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from bot.sandbox.argo import ApplicationController, AppResource, Destination
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

G, V, NS = "argoproj.io", "v1alpha1", "argocd"
WAVE = "argocd.argoproj.io/sync-wave"
INSTANCE = "app.kubernetes.io/instance"
PROD_TOKEN = "prod-argocd"
TOKEN = "argo-test-admin"  # the admin token of the `kube` fixture (conftest.py)
TIME_SCALE = 0.01
SCRIPT = [
    AppResource(kind="Job", name="migrate", api_version="batch/v1", hook="PreSync"),
    AppResource(kind="ConfigMap", name="web-config", wave=-1),
    AppResource(kind="Deployment", name="web", api_version="apps/v1"),
    AppResource(kind="Service", name="web", wave=2),
    AppResource(
        kind="CustomResourceDefinition", name="widgets.example.com", api_version="apiextensions.k8s.io/v1"
    ),
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
        api_url=kube.url,
        token=TOKEN,
        time_scale=TIME_SCALE,
        destinations={"prod": where, prod.https_url: where},
    ).start()
    assert apps.wait_synced(10)
    yield apps
    apps.stop()


@pytest.fixture
def live(prod: KubeApiServer) -> Iterator[client.ApiClient]:
    """A client on the destination, for reading what was deployed."""
    api = build_api_client(url=prod.url, token=PROD_TOKEN)
    yield api
    api.close()  # type: ignore[no-untyped-call]


def _create_app(custom: client.CustomObjectsApi, name: str, destination: dict[str, str]) -> None:
    body = {
        "apiVersion": f"{G}/{V}",
        "kind": "Application",
        "metadata": {"name": name},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/web.git", "path": "web", "targetRevision": "main"},
            "destination": {**destination, "namespace": "shop"},
        },
    }
    custom.create_namespaced_custom_object(G, V, NS, "applications", body)


def _sync(custom: client.CustomObjectsApi, name: str, **sync: Any) -> dict[str, Any]:
    operation = {"sync": {"revision": "v1", **sync}, "initiatedBy": {"username": "alice@example.com"}}
    custom.patch_namespaced_custom_object(G, V, NS, "applications", name, {"operation": operation})

    def done() -> dict[str, Any] | None:
        app = dict(custom.get_namespaced_custom_object(G, V, NS, "applications", name))
        state = app.get("status", {}).get("operationState", {})
        finished = state.get("phase") in ("Succeeded", "Failed", "Error")
        return app if finished and state.get("operation") == operation and not app.get("operation") else None

    return wait_until(done, timeout=30, message=f"sync of {name} to finish")


def _meta(answer: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Annotations and labels of a raw answer (`_preload_content=False`: the live objects carry
    only metadata, which the client's typed models would refuse)."""
    metadata = json.loads(answer.data)["metadata"]
    return dict(metadata.get("annotations") or {}), dict(metadata.get("labels") or {})


def test_a_sync_writes_each_resource_to_the_destination_with_its_wave_and_prunes(
    custom: client.CustomObjectsApi, controller: ApplicationController, live: client.ApiClient
) -> None:
    controller.script_app("web", resources=SCRIPT)
    _create_app(custom, "web", {"name": "prod"})

    app = _sync(custom, "web")

    assert app["status"]["operationState"]["phase"] == "Succeeded"
    core, apps = client.CoreV1Api(live), client.AppsV1Api(live)
    assert _meta(core.read_namespaced_config_map("web-config", "shop", _preload_content=False)) == (
        {WAVE: "-1"},
        {INSTANCE: "web"},
    )
    assert _meta(apps.read_namespaced_deployment("web", "shop", _preload_content=False)) == (
        {WAVE: "0"},
        {INSTANCE: "web"},
    )
    assert _meta(core.read_namespaced_service("web", "shop", _preload_content=False)) == (
        {WAVE: "2"},
        {INSTANCE: "web"},
    )
    crd = client.ApiextensionsV1Api(live).read_custom_resource_definition(
        "widgets.example.com", _preload_content=False
    )
    assert _meta(crd) == ({WAVE: "0"}, {INSTANCE: "web"})  # cluster-scoped: no namespace
    assert client.BatchV1Api(live).list_namespaced_job("shop").items == []  # hooks are not kept

    # A new wave for the Service, the ConfigMap gone from the script: updated, and pruned.
    rescripted = [r for r in SCRIPT if r.kind not in ("ConfigMap", "Service")]
    controller.script_app("web", resources=[*rescripted, AppResource(kind="Service", name="web", wave=3)])
    app = _sync(custom, "web", prune=True)

    results = app["status"]["operationState"]["syncResult"]["resources"]
    assert [r["status"] for r in results if r["kind"] == "ConfigMap"] == ["Pruned"]
    assert _meta(core.read_namespaced_service("web", "shop", _preload_content=False))[0] == {WAVE: "3"}
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("web-config", "shop", _preload_content=False)
    assert gone.value.status == 404


def test_a_destination_by_server_url_is_reached_and_an_unknown_one_deploys_nothing(
    custom: client.CustomObjectsApi,
    controller: ApplicationController,
    live: client.ApiClient,
    prod: KubeApiServer,
    kube: KubeApiServer,
) -> None:
    controller.script_app("api", resources=[AppResource(kind="ConfigMap", name="api", wave=1)])
    controller.script_app("lost", resources=[AppResource(kind="ConfigMap", name="lost", wave=1)])
    _create_app(custom, "api", {"server": prod.https_url + "/"})
    _create_app(custom, "lost", {"name": "elsewhere"})

    assert _sync(custom, "api")["status"]["operationState"]["phase"] == "Succeeded"
    assert _sync(custom, "lost")["status"]["operationState"]["phase"] == "Succeeded"

    core = client.CoreV1Api(live)
    assert _meta(core.read_namespaced_config_map("api", "shop", _preload_content=False)) == (
        {WAVE: "1"},
        {INSTANCE: "api"},
    )
    assert core.list_namespaced_config_map("shop", label_selector=f"{INSTANCE}=lost").items == []
    host = build_api_client(url=kube.url, token=TOKEN)
    try:
        assert client.CoreV1Api(host).list_namespaced_config_map("shop").items == []
    finally:
        host.close()  # type: ignore[no-untyped-call]
