"""Fixtures for the Kubernetes stand-in tests: a started server and official-client handles."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client, watch

from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

ADMIN_TOKEN = "sandbox-admin"
WF = ("argoproj.io", "v1alpha1")


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Every test must stop what it started: no server, watch or client thread survives it."""
    before = set(threading.enumerate())
    yield
    wait_until(
        lambda: not [t for t in threading.enumerate() if t not in before and t.is_alive()],
        timeout=5,
        message=lambda: f"threads to end: {[t.name for t in threading.enumerate() if t not in before]}",
    )


@pytest.fixture
def kube_server() -> Iterator[KubeApiServer]:
    """A stand-in with one admin token, a short history and quick bookmarks."""
    with KubeApiServer(
        name="test", tokens={ADMIN_TOKEN: "admin"}, history_limit=50, bookmark_interval=0.2
    ) as srv:
        yield srv


def make_api_client(url: str, token: str) -> client.ApiClient:
    """The official client exactly as the bot builds it: host + bearer token."""
    config = client.Configuration(host=url, api_key={"authorization": f"Bearer {token}"})
    return client.ApiClient(config)


@pytest.fixture
def api_client(kube_server: KubeApiServer) -> Iterator[client.ApiClient]:
    api = make_api_client(kube_server.url, ADMIN_TOKEN)
    yield api
    api.close()


@pytest.fixture
def custom(api_client: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api_client)


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def _template_body(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "WorkflowTemplate",
        "metadata": {"name": name},
        "spec": {
            "entrypoint": "main",
            "arguments": {"parameters": [{"name": "who", "value": "world"}]},
            "templates": [{"name": "main", "container": {"image": "alpine", "args": ["echo hi"]}}],
        },
    }


def _workflow_body(template: str, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"generateName": f"{template}-", "labels": labels},
        "spec": {
            "workflowTemplateRef": {"name": template},
            "arguments": {"parameters": [{"name": "who", "value": "sre"}]},
        },
    }


class WatchCollector:
    """Runs `Watch().stream` on a thread and keeps every event, as a controller loop would."""

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self._watch = watch.Watch()
        self._thread = threading.Thread(target=self._run, args=(func, args, kwargs), name="test-watch")
        self._thread.start()

    def _run(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            for event in self._watch.stream(func, *args, **kwargs):
                self.events.append(event)
        except BaseException as exc:  # kept for the test to assert on
            self.error = exc
        finally:
            self.ended.set()

    def seen(self) -> list[tuple[str, str]]:
        """(type, name) of each non-bookmark event so far."""
        return [
            (e["type"], e["raw_object"]["metadata"].get("name", ""))
            for e in self.events
            if e["type"] != "BOOKMARK"
        ]

    def join(self) -> None:
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "watch thread did not end"


@pytest.fixture
def make_template(custom: client.CustomObjectsApi) -> Callable[..., dict[str, Any]]:
    """Create a WorkflowTemplate in `argo` through the client; returns the stored object."""

    def make(name: str = "hello", namespace: str = "argo") -> dict[str, Any]:
        return custom.create_namespaced_custom_object(
            *WF, namespace, "workflowtemplates", _template_body(name)
        )

    return make


@pytest.fixture
def make_workflow(custom: client.CustomObjectsApi) -> Callable[..., dict[str, Any]]:
    """Submit a Workflow from a template with generateName, as the bot does; returns it."""

    def make(template: str = "hello", namespace: str = "argo", **labels: str) -> dict[str, Any]:
        return custom.create_namespaced_custom_object(
            *WF, namespace, "workflows", _workflow_body(template, labels)
        )

    return make


@pytest.fixture
def start_watch(kube_server: KubeApiServer) -> Iterator[Callable[..., WatchCollector]]:
    """Start watches on threads; teardown drops any still open and joins them."""
    started: list[WatchCollector] = []

    def start(func: Callable[..., Any], *args: Any, **kwargs: Any) -> WatchCollector:
        collector = WatchCollector(func, *args, **kwargs)
        started.append(collector)
        return collector

    yield start
    if any(not c.ended.is_set() for c in started):
        kube_server.faults.drop_watches(abrupt=True)
    for collector in started:
        collector.join()


@pytest.fixture
def client_for() -> Iterator[Callable[[str, str], client.ApiClient]]:
    """Build more official clients (other URLs or tokens); all closed at teardown."""
    made: list[client.ApiClient] = []

    def build(url: str, token: str) -> client.ApiClient:
        api = make_api_client(url, token)
        made.append(api)
        return api

    yield build
    for api in made:
        api.close()
