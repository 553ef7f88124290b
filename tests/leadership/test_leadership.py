"""Leader election over a real Lease on the Kubernetes stand-in: one leader, quick failover."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client

from bot.leadership import LeaderElector
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

TOKEN = "leader-test-token"


@pytest.fixture
def kube() -> Iterator[KubeApiServer]:
    with KubeApiServer(name="lease", tokens={TOKEN: "chatops"}) as server:
        yield server


@pytest.fixture
def api(kube: KubeApiServer) -> Iterator[client.ApiClient]:
    config = client.Configuration(host=kube.url, api_key={"authorization": f"Bearer {TOKEN}"})
    api_client = client.ApiClient(config)
    yield api_client
    api_client.close()


class Recorder:
    """Counts how many replicas believe they lead at the same moment."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.leading: set[str] = set()
        self.max_together = 0

    def callbacks(self, who: str) -> dict[str, object]:
        def started() -> None:
            with self.lock:
                self.leading.add(who)
                self.max_together = max(self.max_together, len(self.leading))

        def stopped() -> None:
            with self.lock:
                self.leading.discard(who)

        return {"on_started_leading": started, "on_stopped_leading": stopped}


def _elector(api: client.ApiClient, who: str, recorder: Recorder) -> LeaderElector:
    return LeaderElector(
        api,
        namespace="default",
        name="argo-chatops",
        identity=who,
        lease_seconds=1.5,
        renew_seconds=0.2,
        **recorder.callbacks(who),  # type: ignore[arg-type]
    )


def _holder(api: client.ApiClient) -> str | None:
    lease = client.CoordinationV1Api(api).read_namespaced_lease("argo-chatops", "default")
    return lease.spec.holder_identity


def test_one_leader_then_a_clean_handover(api: client.ApiClient) -> None:
    recorder = Recorder()
    first, second = _elector(api, "pod-a", recorder), _elector(api, "pod-b", recorder)
    first.start()
    wait_until(lambda: first.is_leader, timeout=5, message="pod-a to lead")
    second.start()
    try:
        assert not second.is_leader
        assert _holder(api) == "pod-a"
        first.stop()  # releases the Lease
        wait_until(
            lambda: second.is_leader, timeout=1.2, message="pod-b to take over before the lease expires"
        )
        assert _holder(api) == "pod-b"
    finally:
        first.stop()
        second.stop()
    assert recorder.max_together == 1


def test_a_crashed_leader_is_replaced_after_the_lease_expires(api: client.ApiClient) -> None:
    recorder = Recorder()
    first, second = _elector(api, "pod-a", recorder), _elector(api, "pod-b", recorder)
    first.start()
    wait_until(lambda: first.is_leader, timeout=5, message="pod-a to lead")
    second.start()
    try:
        # a crash: the renewals stop, nothing is released
        first._stop.set()
        wait_until(lambda: second.is_leader, timeout=6, message="pod-b to take over an expired lease")
        lease = client.CoordinationV1Api(api).read_namespaced_lease("argo-chatops", "default")
        assert lease.spec.holder_identity == "pod-b" and lease.spec.lease_transitions == 1
    finally:
        second.stop()


def test_a_brief_api_outage_does_not_drop_leadership(kube: KubeApiServer, api: client.ApiClient) -> None:
    recorder = Recorder()
    elector = _elector(api, "pod-a", recorder)
    elector.start()
    try:
        wait_until(lambda: elector.is_leader, timeout=5, message="pod-a to lead")
        kube.faults.fail_next(2, status=503, path_prefix="/apis/coordination.k8s.io")
        wait_until(lambda: not kube.faults.pending_failures(), timeout=5, message="the faults to be used up")
        assert elector.is_leader
        assert "pod-a" in recorder.leading
    finally:
        elector.stop()
