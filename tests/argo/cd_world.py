"""Argo CD pieces for the adapter tests: the sandbox application controller and app helpers.

Imported by `tests/argo/test_argo_cd_*.py` (plain imports; the `kube` and `api` fixtures come
from `tests/argo/conftest.py`). Everything goes through the official `kubernetes` client on
real sockets; outcomes are scripted with `ApplicationController.script_app`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from kubernetes import client

from bot.sandbox.argo import ApplicationController, AppResource
from bot.sandbox.argo.samples import seed_applications
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

ARGOCD_NAMESPACE = "argocd"
ADMIN_TOKEN = (
    "argo-adapter-bot"  # the bot's token in tests/argo/conftest.py; the stand-in lets it do anything
)
TIME_SCALE = 0.01
G, V, PLURAL = "argoproj.io", "v1alpha1", "applications"


@pytest.fixture
def app_controller(kube: KubeApiServer) -> Iterator[ApplicationController]:
    """Argo CD's application controller on the test cluster, 100x faster than scripted."""
    controller = ApplicationController(api_url=kube.url, token=ADMIN_TOKEN, time_scale=TIME_SCALE).start()
    assert controller.wait_synced(10)
    yield controller
    controller.stop()


@pytest.fixture
def admin(kube: KubeApiServer) -> Iterator[client.CustomObjectsApi]:
    """A separate client for what a person does with kubectl (create apps, read them back)."""
    api_client = build_api_client(url=kube.url, token=ADMIN_TOKEN)
    yield client.CustomObjectsApi(api_client)
    api_client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def seeded(kube: KubeApiServer, app_controller: ApplicationController) -> list[str]:
    """The demo apps for cluster `dev`: `shop-dev` (history v1.4.0, v1.5.0) and `billing-dev` (v3.1.0)."""
    return seed_applications(
        url=kube.url, token=ADMIN_TOKEN, clusters=("dev",), controller=app_controller, timeout=30
    )


def application(
    name: str,
    *,
    project: str = "default",
    destination: str = "dev",
    server: str | None = None,
    namespace: str = "web",
    automated: bool = False,
) -> dict[str, Any]:
    """An Application body in Argo CD's shape."""
    dest: dict[str, Any] = {"server": server} if server else {"name": destination}
    dest["namespace"] = namespace
    spec: dict[str, Any] = {
        "project": project,
        "source": {
            "repoURL": "https://git.example.com/deploy.git",
            "path": f"apps/{name}",
            "targetRevision": "main",
        },
        "destination": dest,
    }
    if automated:
        spec["syncPolicy"] = {
            "automated": {"prune": True, "selfHeal": True},
            "syncOptions": ["CreateNamespace=true"],
        }
    return {
        "apiVersion": f"{G}/{V}",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": spec,
    }


def create_app(admin: client.CustomObjectsApi, body: dict[str, Any]) -> None:
    admin.create_namespaced_custom_object(G, V, ARGOCD_NAMESPACE, PLURAL, body)


def read_app(admin: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return cast(dict[str, Any], admin.get_namespaced_custom_object(G, V, ARGOCD_NAMESPACE, PLURAL, name))


def wait_operation_done(admin: client.CustomObjectsApi, name: str, *, timeout: float = 20) -> dict[str, Any]:
    """Wait until the app's operation is finished (final phase, `operation` cleared); return the app."""

    def done() -> dict[str, Any] | None:
        app = read_app(admin, name)
        phase = ((app.get("status") or {}).get("operationState") or {}).get("phase")
        return app if phase in ("Succeeded", "Failed", "Error") and not app.get("operation") else None

    return wait_until(done, timeout=timeout, message=f"the operation on {name} to finish")


def sync_and_wait(admin: client.CustomObjectsApi, name: str, revision: str) -> dict[str, Any]:
    """Sync as `argocd app sync` would (directly, not through the bot) and wait for the end."""
    operation = {"sync": {"revision": revision}, "initiatedBy": {"username": "ci@example.com"}}
    admin.patch_namespaced_custom_object(G, V, ARGOCD_NAMESPACE, PLURAL, name, {"operation": operation})
    wait_until(lambda: not read_app(admin, name).get("operation"), timeout=20, message=f"sync of {name}")
    return wait_operation_done(admin, name)


SLOW_RESOURCES = (
    AppResource(kind="Deployment", name="slow", api_version="apps/v1", progressing_seconds=300),
)
