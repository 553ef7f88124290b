"""The sandbox Argo Rollouts controller, seen only through the kubernetes client, as the plugin sees it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from bot.sandbox.argo import RolloutController
from bot.sandbox.argo.samples import demo_rollout, seed_demo_rollouts
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until

TOKEN = "argo-test-admin"  # the admin token of the `kube` fixture (conftest.py)
TIME_SCALE = 0.01
G, V, NS = "argoproj.io", "v1alpha1", "shop"
STEPS: list[dict[str, Any]] = [
    {"setWeight": 20},
    {"pause": {}},
    {"setWeight": 50},
    {"pause": {"duration": "10s"}},
    {"analysis": {"templates": [{"templateName": "success-rate"}]}},
]


@pytest.fixture
def rollouts(kube: KubeApiServer) -> Iterator[RolloutController]:
    controller = RolloutController(api_url=kube.url, token=TOKEN, time_scale=TIME_SCALE)
    controller.start()
    assert controller.wait_synced()
    yield controller
    controller.stop()


@pytest.fixture
def apps_api(kube: KubeApiServer) -> Iterator[client.AppsV1Api]:
    api_client = build_api_client(url=kube.url, token=TOKEN)
    yield client.AppsV1Api(api_client)
    api_client.close()


def _get(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return dict(custom.get_namespaced_custom_object(G, V, NS, "rollouts", name))


def _status(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return dict(_get(custom, name).get("status") or {})


def _weight(status: dict[str, Any]) -> int | None:
    return ((status.get("canary") or {}).get("weights") or {}).get("canary", {}).get("weight")


def _wait(custom: client.CustomObjectsApi, name: str, what: str, check: Any) -> dict[str, Any]:
    return wait_until(
        lambda: (lambda s: s if check(s) else None)(_status(custom, name)),
        timeout=30,
        message=lambda: f"{what}; status is {json.dumps(_status(custom, name))}",
    )


def _new_image(custom: client.CustomObjectsApi, name: str, image: str) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": name, "image": image}]}}}}
    custom.patch_namespaced_custom_object(G, V, NS, "rollouts", name, patch)


def _paused_canary(custom: client.CustomObjectsApi, name: str, steps: list[dict[str, Any]] = STEPS) -> None:
    """A Rollout at revision 1 (promoted at once), then a new image that starts the canary."""
    custom.create_namespaced_custom_object(
        G, V, NS, "rollouts", demo_rollout(name, image="web:1", steps=steps)
    )
    _wait(custom, name, "revision 1 healthy", lambda s: s.get("phase") == "Healthy")
    _new_image(custom, name, "web:2")


def _promote(custom: client.CustomObjectsApi, name: str) -> None:
    """What `kubectl argo rollouts promote` writes."""
    custom.patch_namespaced_custom_object_status(
        G, V, NS, "rollouts", name, {"status": {"pauseConditions": None}}
    )
    custom.patch_namespaced_custom_object(G, V, NS, "rollouts", name, {"spec": {"paused": False}})


def test_a_canary_goes_step_by_step_pauses_and_promote_moves_it_on(
    rollouts: RolloutController, custom: client.CustomObjectsApi, apps_api: client.AppsV1Api
) -> None:
    _paused_canary(custom, "web")

    paused = _wait(custom, "web", "the pause at step 2", lambda s: s.get("phase") == "Paused")
    assert paused["currentStepIndex"] == 1 and _weight(paused) == 20
    assert paused["pauseConditions"][0]["reason"] == "CanaryPauseStep"
    assert paused["stableRS"] != paused["currentPodHash"]
    assert _get(custom, "web")["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "2"

    _promote(custom, "web")
    timed = _wait(custom, "web", "the timed pause at step 4", lambda s: s.get("currentStepIndex") == 3)
    assert _weight(timed) == 50
    # the 10 s pause ends by itself, then the analysis succeeds and the canary is promoted
    done = _wait(custom, "web", "the end of the canary", lambda s: s.get("phase") == "Healthy")
    assert done["currentStepIndex"] == len(STEPS) and _weight(done) == 100
    assert done["stableRS"] == done["currentPodHash"]
    runs = custom.list_namespaced_custom_object(G, V, NS, "analysisruns")["items"]
    assert [run["status"]["phase"] for run in runs] == ["Successful"]
    replica_sets = apps_api.list_namespaced_replica_set(NS).items
    revisions = sorted(rs.metadata.annotations["rollout.argoproj.io/revision"] for rs in replica_sets)
    assert revisions == ["1", "2"]


def test_abort_sets_weight_zero_and_degraded_and_retry_starts_again(
    rollouts: RolloutController, custom: client.CustomObjectsApi
) -> None:
    _paused_canary(custom, "cart")
    _wait(custom, "cart", "the pause", lambda s: s.get("phase") == "Paused")

    custom.patch_namespaced_custom_object_status(G, V, NS, "rollouts", "cart", {"status": {"abort": True}})
    aborted = _wait(custom, "cart", "the abort", lambda s: s.get("phase") == "Degraded")
    assert _weight(aborted) == 0
    assert aborted["message"].startswith("RolloutAborted: Rollout aborted update to revision 2")
    assert aborted["abortedAt"] and not aborted.get("pauseConditions")

    custom.patch_namespaced_custom_object_status(G, V, NS, "rollouts", "cart", {"status": {"abort": False}})
    again = _wait(custom, "cart", "the retried canary pausing again", lambda s: s.get("phase") == "Paused")
    assert again["currentStepIndex"] == 1 and _weight(again) == 20 and not again.get("abort")


def test_a_failed_analysis_aborts_the_rollout(
    rollouts: RolloutController, custom: client.CustomObjectsApi
) -> None:
    steps = [
        {"setWeight": 10},
        {"analysis": {"templates": [{"templateName": "fail-rate"}]}},
        {"setWeight": 50},
    ]
    _paused_canary(custom, "pay", steps)

    aborted = _wait(custom, "pay", "the failed analysis", lambda s: s.get("phase") == "Degraded")
    assert _weight(aborted) == 0 and aborted["abort"] is True
    assert "RolloutAborted" in aborted["message"] and "assessed Failed" in aborted["message"]
    runs = custom.list_namespaced_custom_object(G, V, NS, "analysisruns")["items"]
    assert [run["status"]["phase"] for run in runs] == ["Failed"]


def test_promote_full_skips_the_remaining_steps_and_undo_canaries_the_old_template_as_revision_3(
    rollouts: RolloutController, custom: client.CustomObjectsApi, apps_api: client.AppsV1Api
) -> None:
    _paused_canary(custom, "api")
    _wait(custom, "api", "the pause", lambda s: s.get("phase") == "Paused")
    custom.patch_namespaced_custom_object_status(
        G, V, NS, "rollouts", "api", {"status": {"promoteFull": True}}
    )
    full = _wait(custom, "api", "full promotion", lambda s: s.get("phase") == "Healthy")
    assert full["currentStepIndex"] == len(STEPS) and _weight(full) == 100

    # undo as the plugin does it: the template of revision 1's ReplicaSet goes back into the spec
    first = next(
        rs for rs in apps_api.list_namespaced_replica_set(NS).items
        if rs.metadata.annotations["rollout.argoproj.io/revision"] == "1"
    )  # fmt: skip
    template = apps_api.api_client.sanitize_for_serialization(first.spec.template)
    template["metadata"]["labels"].pop("rollouts-pod-template-hash")
    custom.patch_namespaced_custom_object(G, V, NS, "rollouts", "api", {"spec": {"template": template}})

    _wait(
        custom,
        "api",
        "revision 3",
        lambda s: s.get("currentPodHash") == first.metadata.labels["rollouts-pod-template-hash"],
    )
    back = _wait(custom, "api", "the old template in its canary", lambda s: s.get("phase") == "Paused")
    assert back["currentStepIndex"] == 1 and back["stableRS"] == full["currentPodHash"]
    assert _get(custom, "api")["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "3"
    image = _get(custom, "api")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "web:1"


def test_the_demo_rollouts_are_seeded_in_their_states(
    kube: KubeApiServer, rollouts: RolloutController
) -> None:
    seeded = seed_demo_rollouts(clusters={"one": (kube.url, TOKEN)})
    assert seeded == ["one/shop/checkout-canary", "one/search/search-api"]
    checkout = kube.store.get(G, V, "rollouts", "shop", "checkout-canary")["status"]
    assert (checkout["phase"], checkout["currentStepIndex"], _weight(checkout)) == ("Paused", 1, 20)
    search = kube.store.get(G, V, "rollouts", "search", "search-api")
    assert search["status"]["phase"] == "Healthy"
    assert search["metadata"]["annotations"]["rollout.argoproj.io/revision"] == "2"
