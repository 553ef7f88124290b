"""`ResourceWatcher`: list, then watch; resume after a stream ends, re-list after 410 Gone, back off
after errors; always against the Kubernetes stand-in through the official client."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from bot.argo import workflows
from bot.argo.watching import SYNC, ResourceWatcher
from bot.sandbox.argo import WorkflowController
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

NS = "argo"
G, V = "argoproj.io", "v1alpha1"


class Recorder:
    """What a consumer (the tracker) would have been told, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[tuple[str, str, str | None]] = []
        self.relists: list[list[str]] = []

    def on_event(self, kind: str, obj: dict[str, Any]) -> None:
        with self._lock:
            self.events.append((kind, obj["metadata"]["name"], obj.get("status", {}).get("phase")))

    def on_relist(self, items: list[dict[str, Any]]) -> None:
        with self._lock:
            self.relists.append([item["metadata"]["name"] for item in items])

    def saw(self, kind: str, name: str, phase: str | None = None) -> bool:
        with self._lock:
            return any(k == kind and n == name and (phase is None or p == phase) for k, n, p in self.events)

    def phases(self, name: str) -> list[str | None]:
        with self._lock:
            return [p for _, n, p in self.events if n == name]

    def relist_count(self) -> int:
        with self._lock:
            return len(self.relists)


WatcherFactory = Callable[..., ResourceWatcher]


@pytest.fixture
def watchers(api: client.ApiClient, cluster_label: str) -> Iterator[WatcherFactory]:
    """Start watchers on Workflows of the bot's runs; every one is stopped at teardown."""
    started: list[ResourceWatcher] = []

    def start(recorder: Recorder, **options: Any) -> ResourceWatcher:
        settings: dict[str, Any] = {
            "namespace": NS,
            "label_selector": workflows.LABEL_RUN_ID,
            "on_relist": recorder.on_relist,
            "backoff": (0.01, 0.05),
            **options,
        }
        watcher = ResourceWatcher(
            api,
            cluster=cluster_label,
            group=G,
            version=V,
            plural="workflows",
            on_event=options.pop("on_event", recorder.on_event),
            **{k: v for k, v in settings.items() if k != "on_event"},
        )
        started.append(watcher.start())
        assert watcher.synced.wait(10), "the first list did not complete"
        return watcher

    yield start
    for watcher in started:
        watcher.stop()


def _submit(api: client.ApiClient, run_id: str, template: str = "hello") -> str:
    return workflows.submit_workflow(
        api,
        namespace=NS,
        template=template,
        parameters={},
        labels={workflows.LABEL_RUN_ID: run_id},
        annotations={},
    ).name


def _bump_resource_version(api: client.ApiClient, name: str) -> None:
    """A write the watcher does not see (another kind): the server moves on, the watcher does not."""
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        G,
        V,
        NS,
        "workflowtemplates",
        {"apiVersion": f"{G}/{V}", "kind": "WorkflowTemplate", "metadata": {"name": name}, "spec": {}},
    )


def test_a_submitted_run_is_followed_until_it_succeeds(
    api: client.ApiClient, controller: WorkflowController, watchers: WatcherFactory
) -> None:
    recorder = Recorder()
    watchers(recorder)

    name = _submit(api, "run-1")

    wait_until(lambda: recorder.saw("MODIFIED", name, "Succeeded"), timeout=15, message="Succeeded")
    phases = [p for p in recorder.phases(name) if p]
    assert phases[0] == "Pending" and phases[-1] == "Succeeded"
    assert phases.index("Running") < phases.index("Succeeded")
    assert recorder.relists == [[]]


def test_after_compaction_it_lists_again_and_keeps_delivering(
    kube: KubeApiServer,
    api: client.ApiClient,
    watchers: WatcherFactory,
    restarts: Callable[[str], float],
) -> None:
    first = _submit(api, "run-1")
    recorder = Recorder()
    watchers(recorder)
    _bump_resource_version(api, "unwatched")

    kube.faults.compact()
    kube.faults.drop_watches()

    wait_until(lambda: recorder.relist_count() == 2, timeout=10, message="a second list")
    assert recorder.relists == [[first], [first]]
    assert restarts("gone") >= 1
    second = _submit(api, "run-2")
    wait_until(
        lambda: recorder.saw("ADDED", second), timeout=10, message="the run submitted after the re-list"
    )
    assert restarts("error") == 0


def test_after_a_plain_drop_it_resumes_without_losing_or_relisting(
    kube: KubeApiServer,
    api: client.ApiClient,
    watchers: WatcherFactory,
    restarts: Callable[[str], float],
) -> None:
    recorder = Recorder()
    watchers(recorder)
    name = _submit(api, "run-1")
    wait_until(lambda: recorder.saw("ADDED", name), timeout=10, message="ADDED")

    kube.faults.drop_watches()
    workflows.set_shutdown(api, namespace=NS, name=name, strategy="Stop")  # while no stream is open
    client.CustomObjectsApi(api).delete_namespaced_custom_object(G, V, NS, "workflows", name)

    wait_until(lambda: recorder.saw("DELETED", name), timeout=10, message="DELETED")
    assert [kind for kind, n, _ in recorder.events if n == name] == ["ADDED", "MODIFIED", "DELETED"]
    assert recorder.relist_count() == 1
    assert restarts("ended") >= 1
    assert restarts("gone") == 0


@pytest.mark.parametrize("kube", [{"bookmark_interval": 0.1}], indirect=True)
def test_bookmarks_keep_the_resource_version_fresh_so_compaction_needs_no_relist(
    kube: KubeApiServer,
    api: client.ApiClient,
    watchers: WatcherFactory,
    restarts: Callable[[str], float],
) -> None:
    recorder = Recorder()
    watcher = watchers(recorder)
    _bump_resource_version(api, "unwatched")
    wait_until(
        lambda: watcher.resource_version == kube.store.resource_version,
        timeout=10,
        message="a bookmark carrying the newest resourceVersion",
    )

    kube.faults.compact()
    kube.faults.drop_watches()
    name = _submit(api, "run-1")

    wait_until(lambda: recorder.saw("ADDED", name), timeout=10, message="ADDED after the resume")
    assert recorder.relist_count() == 1
    assert restarts("gone") == 0
    assert not any(kind == "BOOKMARK" for kind, _, _ in recorder.events)


def test_server_errors_back_off_exponentially_then_recover(
    kube: KubeApiServer,
    api: client.ApiClient,
    watchers: WatcherFactory,
    restarts: Callable[[str], float],
) -> None:
    pauses: list[float] = []
    recorder = Recorder()
    kube.faults.fail_next(3, status=500, verb="list")

    watchers(recorder, backoff=(0.2, 0.5), sleep=pauses.append)

    assert pauses == [0.2, 0.4, 0.5]
    assert restarts("error") == 3
    kube.faults.fail_next(1, status=503, verb="watch")

    def relisted_after_a_failed_watch() -> bool:
        # End the current stream so the next watch request meets the 503; repeated, because
        # the first stream may still be opening when a single drop is sent.
        kube.faults.drop_watches()
        return recorder.relist_count() == 2

    wait_until(relisted_after_a_failed_watch, timeout=10, message="a list after the failed watch")
    name = _submit(api, "run-1")
    wait_until(lambda: recorder.saw("ADDED", name), timeout=10, message="ADDED after recovery")
    assert restarts("error") == 4


def test_a_connection_cut_mid_stream_is_an_error_and_a_fresh_list(
    kube: KubeApiServer,
    api: client.ApiClient,
    watchers: WatcherFactory,
    restarts: Callable[[str], float],
) -> None:
    recorder = Recorder()
    watchers(recorder)
    first = _submit(api, "run-1")
    wait_until(lambda: recorder.saw("ADDED", first), timeout=10, message="ADDED on the first stream")

    kube.faults.drop_watches(abrupt=True)

    wait_until(lambda: recorder.relist_count() == 2, timeout=10, message="a list after the cut")
    assert recorder.relists[1] == [first]
    assert restarts("error") == 1
    second = _submit(api, "run-2")
    wait_until(lambda: recorder.saw("ADDED", second), timeout=10, message="ADDED on the new stream")


def test_a_failing_callback_does_not_stop_the_watch(api: client.ApiClient, watchers: WatcherFactory) -> None:
    recorder = Recorder()
    broken: list[str] = []

    def on_event(kind: str, obj: dict[str, Any]) -> None:
        if not broken:
            broken.append(obj["metadata"]["name"])
            raise RuntimeError("a bug in the consumer")
        recorder.on_event(kind, obj)

    watcher = watchers(recorder, on_event=on_event)
    first = _submit(api, "run-1")
    second = _submit(api, "run-2")

    wait_until(lambda: recorder.saw("ADDED", second), timeout=10, message="the second run")
    assert broken == [first]
    assert watcher.is_alive


def test_without_on_relist_each_listed_object_is_a_sync_event_and_stop_is_prompt(
    kube: KubeApiServer, api: client.ApiClient, watchers: WatcherFactory
) -> None:
    existing = _submit(api, "run-0")
    recorder = Recorder()
    watcher = watchers(recorder, on_relist=None, namespace=None, timeout_seconds=3600)
    wait_until(lambda: kube.open_watches == 1, timeout=5, message="the watch stream to open")

    watcher.stop(timeout=5)

    assert recorder.events == [(SYNC, existing, None)]
    assert not watcher.is_alive
