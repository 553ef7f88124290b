"""A sync followed as the tracker follows it: successive reads of the Application turned into
`SyncState`s and thread events, against the sandbox controller running the demo `shop` app
(PreSync hook, waves -1/0/1, PostSync hook). The waves come from the resources' annotations, as
the tracker reads them from the destination cluster, never from Argo CD's result.
"""

from __future__ import annotations

from cd_world import ARGOCD_NAMESPACE, admin, app_controller, read_app, seeded
from kubernetes import client

from bot.argo import cd
from bot.sandbox.argo.samples import SHOP_RESOURCES
from bot.sandbox.waiting import wait_until
from bot.tracking.sync_progress import SyncState, SyncTransition, diff, sync_state, wave_of

__all__ = ["admin", "app_controller", "seeded"]  # fixtures, imported for pytest


def test_following_a_sync_yields_each_event_once_in_order(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi
) -> None:
    waves = {
        (r.kind, r.namespace or "shop", r.name): wave_of(r.to_manifest()["metadata"]["annotations"])
        for r in SHOP_RESOURCES
    }
    cd.request_sync(api, namespace=ARGOCD_NAMESPACE, name="shop-dev", username="alice", revision="v1.6.0")
    events: list[SyncTransition] = []
    states: list[SyncState] = []

    def follow() -> bool:
        state = sync_state(read_app(admin, "shop-dev"), waves=waves)
        events.extend(diff(states[-1] if states else None, state))
        states.append(state)
        return state.is_final

    wait_until(follow, timeout=30, interval=0.005, message="the sync to finish")

    assert states[0].phase in ("Pending", "Running")
    assert [e.kind for e in events].count("finished") == 1 and events[-1].kind == "finished"
    waves_started = [e.wave for e in events if e.kind == "wave-started"]
    assert waves_started == [-1, 0, 1]
    ends = [(e.kind, e.resource.name) for e in events if e.resource is not None and e.kind != "hook-started"]
    assert ends == [
        ("hook-finished", "db-migrate"),
        ("resource-synced", "shop-config"),
        ("resource-synced", "shop"),
        ("resource-synced", "shop"),
        ("hook-finished", "smoke-test"),
    ]
    kinds = [e.resource.kind for e in events if e.kind == "resource-synced" and e.resource is not None]
    assert kinds == ["ConfigMap", "Deployment", "Service"]
    final = states[-1]
    assert (final.phase, final.health, final.sync_status, final.progress) == (
        "Succeeded",
        "Healthy",
        "Synced",
        "5/5",
    )
    deployment = next(r for r in final.resources if r.kind == "Deployment")
    assert (deployment.wave, deployment.health) == (0, "Healthy")
