"""Fixtures for the Argo adapter tests: a Kubernetes stand-in, the workflow controller, and the
bot's own `ApiClient` for it, built by `ClusterRegistry` exactly as the running bot builds it.

Everything talks over real sockets on 127.0.0.1 through the official `kubernetes` client.
The server sends no BOOKMARKs unless a test asks (`@pytest.mark.parametrize("kube",
[{"bookmark_interval": 0.1}], indirect=True)`), so which resourceVersion a watcher
holds is under the test's control.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
from kubernetes import client
from prometheus_client import REGISTRY

from bot.clusters.registry import ClusterRegistry
from bot.config import ClusterSettings
from bot.sandbox.argo import WorkflowController
from bot.sandbox.argo.samples import seed_templates
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

TOKEN = "argo-adapter-bot"
VIEWER_TOKEN = "argo-adapter-viewer"
TOKEN_ENV = "ARGO_ADAPTER_TEST_TOKEN"
NAMESPACE = "argo"
TIME_SCALE = 0.01


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Every test stops what it started: no server, watcher, controller or client thread survives."""
    before = set(threading.enumerate())
    yield
    wait_until(
        lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
        timeout=5,
        message=lambda: f"threads to end: {[t.name for t in threading.enumerate() if t not in before]}",
    )


@pytest.fixture
def kube(request: pytest.FixtureRequest) -> Iterator[KubeApiServer]:
    """The API server, with the demo WorkflowTemplates (`hello`, `db-migration`, `deploy-report`)."""
    options = {"bookmark_interval": 3600.0, **getattr(request, "param", {})}
    server = KubeApiServer(
        name="argo-adapter",
        tokens={TOKEN: "chatops-bot", VIEWER_TOKEN: "viewer"},
        forbidden_users={"viewer"},
        **options,
    ).start()
    try:
        seed_templates(url=server.url, token=TOKEN, namespace=NAMESPACE)
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry(kube: KubeApiServer) -> Iterator[ClusterRegistry]:
    settings = ClusterSettings.model_validate(
        {"name": "dev", "auth": {"kind": "token", "server": kube.url, "token_env": TOKEN_ENV}}
    )
    clusters = ClusterRegistry([settings], environ={TOKEN_ENV: TOKEN})
    yield clusters
    clusters.close()


@pytest.fixture
def api(registry: ClusterRegistry) -> client.ApiClient:
    """The bot's ApiClient for the sandbox cluster `dev`."""
    return registry.api_client("dev")


@pytest.fixture
def viewer_api(kube: KubeApiServer) -> Iterator[client.ApiClient]:
    """An ApiClient for a user the cluster refuses everything (403)."""
    configuration = client.Configuration(host=kube.url, api_key={"authorization": f"Bearer {VIEWER_TOKEN}"})
    viewer = client.ApiClient(configuration)
    yield viewer
    viewer.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def controller(kube: KubeApiServer) -> Iterator[WorkflowController]:
    """Argo's workflow controller, 100x faster than the scripted durations."""
    workflows = WorkflowController(api_url=kube.url, token=TOKEN, time_scale=TIME_SCALE).start()
    assert workflows.wait_synced(10)
    yield workflows
    workflows.stop()


@pytest.fixture
def cluster_label() -> str:
    """A cluster name no other test uses, so its restart counters start at zero."""
    return f"argo-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def restarts(cluster_label: str) -> Callable[[str], float]:
    """`chatops_watch_restarts_total{cluster=cluster_label, reason}`, read as Prometheus scrapes it."""

    def count(reason: str) -> float:
        labels = {"cluster": cluster_label, "reason": reason}
        return REGISTRY.get_sample_value("chatops_watch_restarts_total", labels) or 0.0

    return count
