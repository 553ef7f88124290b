"""The sandbox Argo CD application controller, seen only through the kubernetes client."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from kubernetes import client

from bot.sandbox.argo import ApplicationController, AppResource, PastSync
from bot.sandbox.waiting import wait_until

G, V, NS = "argoproj.io", "v1alpha1", "argocd"
SOURCE = {"repoURL": "https://git.example.com/shop.git", "path": "deploy/shop", "targetRevision": "main"}


def _create_app(
    custom: client.CustomObjectsApi, name: str, *, source: dict[str, Any] = SOURCE, **metadata: Any
) -> None:
    body = {
        "apiVersion": f"{G}/{V}",
        "kind": "Application",
        "metadata": {"name": name, **metadata},
        "spec": {"project": "default", "source": source, "destination": {"name": "dev", "namespace": "shop"}},
    }
    custom.create_namespaced_custom_object(G, V, NS, "applications", body)


def _sha(revision: str, source: dict[str, Any] = SOURCE) -> str:
    """The commit SHA the sandbox's Argo CD resolves a tag of `source` to."""
    return hashlib.sha1(f"{source['repoURL']}@{revision}".encode()).hexdigest()


def _get(custom: client.CustomObjectsApi, name: str) -> dict[str, Any]:
    return dict(custom.get_namespaced_custom_object(G, V, NS, "applications", name))


def _sync(custom: client.CustomObjectsApi, name: str, **sync: Any) -> dict[str, Any]:
    """Request a sync the way the bot and `argocd app sync` do, and wait for its outcome."""
    operation = {"sync": sync, "initiatedBy": {"username": "alice@example.com"}}
    custom.patch_namespaced_custom_object(G, V, NS, "applications", name, {"operation": operation})

    def done() -> dict[str, Any] | None:
        app = _get(custom, name)
        state = app.get("status", {}).get("operationState", {})
        finished = state.get("phase") in ("Succeeded", "Failed", "Error")
        return app if finished and state.get("operation") == operation and not app.get("operation") else None

    return wait_until(done, timeout=60, message=f"sync of {name} to finish")


WAVES = [
    AppResource(kind="Service", name="web", wave=1),
    AppResource(kind="Job", name="smoke-test", api_version="batch/v1", hook="PostSync"),
    AppResource(kind="Deployment", name="web", api_version="apps/v1", wave=0, progressing_seconds=30),
    AppResource(kind="Job", name="db-migrate", api_version="batch/v1", hook="PreSync"),
    AppResource(kind="ConfigMap", name="web-config", wave=-1),
]


def test_sync_applies_hooks_and_waves_in_order_and_records_history(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    apps.script_app("shop", resources=WAVES)
    _create_app(custom, "shop")
    wait_until(
        lambda: _get(custom, "shop").get("status", {}).get("sync", {}).get("status") == "OutOfSync",
        timeout=10,
        message="the new app to be reconciled",
    )
    custom.patch_namespaced_custom_object(
        G, V, NS, "applications", "shop", {"operation": {"sync": {"revision": "v1.0.0"}}}
    )
    wait_until(
        lambda: _get(custom, "shop").get("status", {}).get("health", {}).get("status") == "Progressing",
        timeout=10,
        message="health to go Progressing during the sync",
    )

    app = wait_until(
        lambda: (a := _get(custom, "shop")) and not a.get("operation") and a["status"]["history"] and a,
        timeout=60,
        message="the sync to finish",
    )

    state = app["status"]["operationState"]
    assert state["phase"] == "Succeeded"
    assert state["message"] == "successfully synced (all tasks run)"
    result = state["syncResult"]
    assert len(result["revision"]) == 40 and result["source"] == SOURCE
    order = [(r["kind"], r["name"], r["syncPhase"], r.get("hookType")) for r in result["resources"]]
    assert order == [
        ("Job", "db-migrate", "PreSync", "PreSync"),
        ("ConfigMap", "web-config", "Sync", None),
        ("Deployment", "web", "Sync", None),
        ("Service", "web", "Sync", None),
        ("Job", "smoke-test", "PostSync", "PostSync"),
    ]
    hook = result["resources"][0]
    assert hook["hookPhase"] == "Succeeded" and hook["status"] == ""
    deployment = result["resources"][2]
    assert deployment["status"] == "Synced" and deployment["message"] == "deployment.apps/web created"
    assert not any("wave" in key.lower() for r in result["resources"] for key in r)
    status = app["status"]
    assert status["health"]["status"] == "Healthy"
    assert status["sync"] == {
        "status": "Synced",
        "revision": result["revision"],
        "comparedTo": {"source": SOURCE, "destination": {"name": "dev", "namespace": "shop"}},
    }
    assert [(r["kind"], r["name"]) for r in status["resources"]] == [
        ("Service", "web"),
        ("Deployment", "web"),
        ("ConfigMap", "web-config"),
    ]
    [entry] = status["history"]
    assert entry["id"] == 0 and entry["revision"] == result["revision"] and entry["source"] == SOURCE
    assert entry["deployStartedAt"] == state["startedAt"] and entry["deployedAt"] == state["finishedAt"]


def test_scripted_failing_resource_fails_the_sync_and_degrades_the_app(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    apps.script_app(
        "billing",
        resources=[
            AppResource(kind="ConfigMap", name="billing", wave=0),
            AppResource(
                kind="Deployment",
                name="billing",
                api_version="apps/v1",
                wave=1,
                sync_error='admission webhook "policy" denied the request',
            ),
            AppResource(kind="Service", name="billing", wave=2),
        ],
    )
    _create_app(custom, "billing")

    app = _sync(custom, "billing", revision="v2.0.0")

    state = app["status"]["operationState"]
    assert state["phase"] == "Failed"
    assert state["message"] == (
        'one or more objects failed to apply, reason: admission webhook "policy" denied the request'
    )
    assert [(r["kind"], r["status"]) for r in state["syncResult"]["resources"]] == [
        ("ConfigMap", "Synced"),
        ("Deployment", "SyncFailed"),
    ]
    assert app["status"]["health"]["status"] == "Degraded"
    assert app["status"]["sync"]["status"] == "OutOfSync"
    assert not app["status"].get("history")


def test_revision_scripted_to_fail_by_annotation(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    _create_app(custom, "cart", annotations={"sandbox.argoproj.io/fail-revisions": "broken-*"})

    good = _sync(custom, "cart", revision="v1")
    bad = _sync(custom, "cart", revision="broken-build")

    assert good["status"]["operationState"]["phase"] == "Succeeded"
    assert bad["status"]["operationState"]["phase"] == "Failed"
    assert len(bad["status"]["history"]) == 1


def test_dry_run_records_a_result_and_changes_nothing(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    _create_app(custom, "search")
    before = _sync(custom, "search", revision="v1")

    after = _sync(custom, "search", revision="v2", dryRun=True)

    state = after["status"]["operationState"]
    assert state["phase"] == "Succeeded"
    assert all(r["message"].endswith("(dry run)") for r in state["syncResult"]["resources"])
    assert after["status"]["history"] == before["status"]["history"]
    assert after["status"]["sync"] == before["status"]["sync"]


def test_rollback_syncs_to_a_history_entry_and_adds_a_new_entry(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    _create_app(custom, "payments")
    _sync(custom, "payments", revision="v1")
    current = _sync(custom, "payments", revision="v2")
    first = current["status"]["history"][0]
    old_source = {**SOURCE, "targetRevision": "v1"}

    rolled = _sync(custom, "payments", revision=first["revision"], source=old_source)

    history = rolled["status"]["history"]
    assert [h["id"] for h in history] == [0, 1, 2]
    assert history[2]["revision"] == first["revision"]
    assert history[2]["source"] == old_source
    assert history[2]["initiatedBy"] == {"username": "alice@example.com"}
    assert rolled["status"]["sync"]["revision"] == first["revision"]
    assert rolled["status"]["operationState"]["syncResult"]["source"] == old_source


def test_sync_waits_on_a_progressing_wave_until_terminated(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    apps.script_app(
        "stuck",
        resources=[
            AppResource(kind="Deployment", name="stuck", api_version="apps/v1", health="Progressing"),
            AppResource(kind="Service", name="stuck", wave=1),
        ],
    )
    _create_app(custom, "stuck")
    custom.patch_namespaced_custom_object(G, V, NS, "applications", "stuck", {"operation": {"sync": {}}})
    wait_until(
        lambda: (
            _get(custom, "stuck").get("status", {}).get("operationState", {}).get("message")
            == "waiting for healthy state of apps/Deployment/stuck"
        ),
        timeout=10,
        message="the sync to wait on the progressing deployment",
    )

    custom.patch_namespaced_custom_object_status(
        G, V, NS, "applications", "stuck", {"status": {"operationState": {"phase": "Terminating"}}}
    )
    app = wait_until(
        lambda: (a := _get(custom, "stuck")) and not a.get("operation") and a,
        timeout=10,
        message="the terminated sync to end",
    )

    state = app["status"]["operationState"]
    assert (state["phase"], state["message"]) == ("Failed", "Operation terminated")
    assert [r["kind"] for r in state["syncResult"]["resources"]] == ["Deployment"]


NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


def test_replayed_history_is_what_the_syncs_would_have_left_and_a_new_sync_continues_it(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    apps.script_app("shop", resources=WAVES)
    source = {**SOURCE, "targetRevision": "v1.1.0"}
    _create_app(custom, "shop", source=source)

    apps.replay(
        "shop",
        [
            PastSync("v1.0.0", finished_at=NOW - dt.timedelta(days=2), initiated_by="bob@example.com"),
            PastSync("v1.1.0", finished_at=NOW, initiated_by="carol@example.com", seconds=90),
        ],
    )
    # the controller's first look at the new app comes after ours: it must not reset it
    _create_app(custom, "later")
    wait_until(lambda: _get(custom, "later").get("status"), timeout=10, message="the next app's status")
    app = _get(custom, "shop")

    status = app["status"]
    assert [(h["id"], h["revision"], h["initiatedBy"]) for h in status["history"]] == [
        (0, _sha("v1.0.0"), {"username": "bob@example.com"}),
        (1, _sha("v1.1.0"), {"username": "carol@example.com"}),
    ]
    # each entry names what was the target then; the app is compared with today's target
    assert [h["source"]["targetRevision"] for h in status["history"]] == ["v1.0.0", "v1.1.0"]
    assert status["sync"]["comparedTo"]["source"] == source
    assert status["history"][1]["deployedAt"] == "2026-03-02T09:30:00Z"
    assert status["history"][1]["deployStartedAt"] == "2026-03-02T09:28:30Z"
    assert status["sync"]["status"] == "Synced" and status["sync"]["revision"] == _sha("v1.1.0")
    assert status["health"]["status"] == "Healthy"
    state = status["operationState"]
    assert (state["phase"], state["finishedAt"]) == ("Succeeded", "2026-03-02T09:30:00Z")
    assert [(r["kind"], r["name"], r["message"]) for r in state["syncResult"]["resources"]][1:4] == [
        ("ConfigMap", "web-config", "configmap/web-config configured"),
        ("Deployment", "web", "deployment.apps/web configured"),
        ("Service", "web", "service/web configured"),
    ]
    assert "operation" not in app

    after = _sync(custom, "shop", revision="v1.2.0")

    assert [h["id"] for h in after["status"]["history"]] == [0, 1, 2]
    assert after["status"]["history"][2]["revision"] == _sha("v1.2.0")


def test_a_replayed_app_whose_target_moved_on_is_out_of_sync_until_synced(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    apps.script_app("cart", resources=WAVES)
    source = {**SOURCE, "targetRevision": "v2.0.0"}
    _create_app(custom, "cart", source=source)

    apps.replay("cart", [PastSync("v1.9.0", finished_at=NOW, initiated_by="bob@example.com")])
    behind = _get(custom, "cart")["status"]

    assert behind["sync"]["status"] == "OutOfSync" and behind["sync"]["revision"] == _sha("v1.9.0")
    assert behind["sync"]["comparedTo"]["source"]["targetRevision"] == "v2.0.0"
    assert {r["kind"]: r["status"] for r in behind["resources"]} == {
        "ConfigMap": "Synced",
        "Deployment": "OutOfSync",
        "Service": "Synced",
    }
    assert behind["health"]["status"] == "Healthy"

    synced = _sync(custom, "cart")  # no revision: the target

    assert synced["status"]["sync"]["status"] == "Synced"
    assert synced["status"]["sync"]["revision"] == _sha("v2.0.0")


def test_a_resource_scripted_unhealthy_leaves_a_replayed_app_degraded(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    apps.script_app(
        "ledger",
        resources=[
            AppResource(kind="StatefulSet", name="ledger", api_version="apps/v1", health="Degraded"),
            AppResource(kind="Service", name="ledger"),
        ],
    )
    _create_app(custom, "ledger", source={**SOURCE, "targetRevision": "v1.3.0"})

    apps.replay("ledger", [PastSync("v1.3.0", finished_at=NOW, initiated_by="carol@example.com")])

    status = _get(custom, "ledger")["status"]
    assert (status["sync"]["status"], status["health"]["status"]) == ("Synced", "Degraded")
    assert {(r["kind"], r["health"]["status"]) for r in status["resources"]} == {
        ("StatefulSet", "Degraded"),
        ("Service", "Healthy"),
    }


PAYMENTS = [
    AppResource(kind="ConfigMap", name="api-config", wave=-1),
    AppResource(
        kind="Deployment",
        name="api",
        api_version="apps/v1",
        revision_error='admission webhook "validation.gatekeeper.sh" denied the request: no memory limit',
    ),
    AppResource(kind="Service", name="api"),
]


def test_a_failing_revision_fails_at_the_resource_that_says_why(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    apps.script_app("payments", resources=PAYMENTS, fail_revisions=("v2.8.*",))
    _create_app(custom, "payments")
    _sync(custom, "payments", revision="v2.7.0")

    app = _sync(custom, "payments", revision="v2.8.0")

    state = app["status"]["operationState"]
    assert state["phase"] == "Failed"
    assert state["message"] == (
        "one or more objects failed to apply, reason: "
        'admission webhook "validation.gatekeeper.sh" denied the request: no memory limit'
    )
    assert [(r["kind"], r["status"]) for r in state["syncResult"]["resources"]] == [
        ("ConfigMap", "Synced"),
        ("Deployment", "SyncFailed"),
    ]
    assert len(app["status"]["history"]) == 1


def test_a_replayed_failed_sync_shows_as_the_last_operation_but_not_in_history(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    apps.script_app("payments", resources=PAYMENTS, fail_revisions=("v2.8.*",))
    _create_app(custom, "payments", source={**SOURCE, "targetRevision": "v2.8.0"})

    apps.replay(
        "payments",
        [
            PastSync("v2.7.0", finished_at=NOW - dt.timedelta(hours=1), initiated_by="bob@example.com"),
            PastSync("v2.8.0", finished_at=NOW, initiated_by="bob@example.com"),
        ],
    )

    status = _get(custom, "payments")["status"]
    assert status["operationState"]["phase"] == "Failed"
    assert "no memory limit" in status["operationState"]["message"]
    assert [h["revision"] for h in status["history"]] == [_sha("v2.7.0")]
    assert status["sync"]["status"] == "OutOfSync" and status["health"]["status"] == "Degraded"


def test_replaying_a_sync_that_would_never_end_is_refused(
    custom: client.CustomObjectsApi, apps: ApplicationController
) -> None:
    apps.script_app(
        "stuck",
        resources=[AppResource(kind="Deployment", name="stuck", api_version="apps/v1", health="Progressing")],
    )
    _create_app(custom, "stuck")

    with pytest.raises(ValueError, match="would never end"):
        apps.replay("stuck", [PastSync("v1", finished_at=NOW)])

    assert not _get(custom, "stuck").get("status", {}).get("history")
