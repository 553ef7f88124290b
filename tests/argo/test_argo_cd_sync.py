"""Syncs and rollbacks requested through `bot.argo.cd`, run by the sandbox's Argo CD controller.

What a user notices: the sync they asked for runs to the end and lands in the history with their
name; a second request while one runs is refused with Argo CD's words; a conflicting write is
retried instead of failing the command; a rollback deploys exactly an old entry's revision and
source, and is refused (or auto-sync turned off, when asked) while automated sync is on.
"""

from __future__ import annotations

import pytest
from cd_world import (
    ARGOCD_NAMESPACE,
    SLOW_RESOURCES,
    admin,
    app_controller,
    application,
    create_app,
    read_app,
    seeded,
    wait_operation_done,
)
from kubernetes import client

from bot.argo import cd
from bot.errors import KubeConflict, KubeNotFound, OperationInProgress, UserError
from bot.sandbox.argo import ApplicationController
from bot.sandbox.kube import KubeApiServer
from bot.tracking import sync_progress

__all__ = ["admin", "app_controller", "seeded"]  # fixtures, imported for pytest


def test_request_sync_writes_argo_cds_operation_and_the_controller_runs_it(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi
) -> None:
    written = cd.request_sync(
        api,
        namespace=ARGOCD_NAMESPACE,
        name="shop-dev",
        username="alice@example.com",
        revision="v1.6.0",
        prune=True,
        info=(("Slack thread", "C0OPS/1700000000.000100"),),
    )

    assert written["operation"] == {
        "sync": {"revision": "v1.6.0", "prune": True, "dryRun": False, "syncStrategy": {"hook": {}}},
        "initiatedBy": {"username": "alice@example.com", "automated": False},
        "info": [{"name": "Slack thread", "value": "C0OPS/1700000000.000100"}],
    }
    app = wait_operation_done(admin, "shop-dev")
    state = sync_progress.sync_state(app)
    assert state.is_final and state.phase == "Succeeded"
    assert state.initiated_by == "alice@example.com"
    detail = cd.get_app(api, namespace=ARGOCD_NAMESPACE, name="shop-dev")
    assert [entry.id for entry in detail.history] == [0, 1, 2]
    assert detail.history[-1].initiated_by == "alice@example.com"
    assert detail.history[-1].revision == state.revision
    assert detail.summary.sync_status == "Synced"


def test_a_dry_run_changes_nothing(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi
) -> None:
    cd.request_sync(api, namespace=ARGOCD_NAMESPACE, name="billing-dev", username="bob", dry_run=True)

    app = wait_operation_done(admin, "billing-dev")

    assert app["status"]["operationState"]["operation"]["sync"]["dryRun"] is True
    assert len(app["status"]["history"]) == 1


def test_a_second_sync_while_one_runs_is_refused(
    api: client.ApiClient, admin: client.CustomObjectsApi, app_controller: ApplicationController
) -> None:
    app_controller.script_app("slow", resources=SLOW_RESOURCES)
    create_app(admin, application("slow"))
    cd.request_sync(api, namespace=ARGOCD_NAMESPACE, name="slow", username="alice")

    with pytest.raises(OperationInProgress) as refused:
        cd.request_sync(api, namespace=ARGOCD_NAMESPACE, name="slow", username="bob")

    assert "another operation is already in progress" in str(refused.value)
    assert read_app(admin, "slow")["operation"]["initiatedBy"]["username"] == "alice"


def test_a_conflicting_write_is_retried(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi, kube: KubeApiServer
) -> None:
    kube.faults.fail_next(2, status=409, verb="PUT")
    pauses: list[float] = []

    cd.request_sync(
        api, namespace=ARGOCD_NAMESPACE, name="billing-dev", username="carol", sleep=pauses.append
    )

    assert len(pauses) == 2
    app = wait_operation_done(admin, "billing-dev")
    assert app["status"]["history"][-1]["initiatedBy"]["username"] == "carol"


def test_conflicts_that_never_end_give_up_and_write_nothing(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi, kube: KubeApiServer
) -> None:
    kube.faults.fail_next(3, status=409, verb="PUT")

    with pytest.raises(KubeConflict):
        cd.request_sync(
            api,
            namespace=ARGOCD_NAMESPACE,
            name="billing-dev",
            username="carol",
            attempts=3,
            sleep=lambda _: None,
        )

    assert "operation" not in read_app(admin, "billing-dev")


def test_rollback_to_an_id_deploys_that_entrys_revision_and_source(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi
) -> None:
    before = read_app(admin, "shop-dev")["status"]["history"]

    plan = cd.request_rollback(
        api, namespace=ARGOCD_NAMESPACE, name="shop-dev", history_id=0, username="alice@example.com"
    )

    assert (plan.current.id, plan.target.id, plan.auto_sync_disabled) == (1, 0, False)
    app = wait_operation_done(admin, "shop-dev")
    sync = app["status"]["operationState"]["operation"]["sync"]
    assert sync["revision"] == before[0]["revision"]
    assert sync["source"] == before[0]["source"]
    assert app["status"]["operationState"]["phase"] == "Succeeded"
    history = app["status"]["history"]
    assert [h["id"] for h in history] == [0, 1, 2]
    assert history[-1]["revision"] == before[0]["revision"]
    assert history[-1]["initiatedBy"]["username"] == "alice@example.com"


def test_rollback_without_an_id_goes_to_the_entry_before_the_current(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi
) -> None:
    plan = cd.request_rollback(
        api, namespace=ARGOCD_NAMESPACE, name="shop-dev", history_id=None, username="bob"
    )

    assert (plan.current.id, plan.target.id) == (1, 0)
    wait_operation_done(admin, "shop-dev")


def test_rollback_to_an_unknown_id_lists_the_ids(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi
) -> None:
    with pytest.raises(UserError) as refused:
        cd.request_rollback(api, namespace=ARGOCD_NAMESPACE, name="shop-dev", history_id=7, username="bob")

    assert "no history entry 7" in str(refused.value)
    assert "1, 0" in str(refused.value)
    assert "operation" not in read_app(admin, "shop-dev")


def test_rollback_with_a_single_deploy_has_nowhere_to_go(api: client.ApiClient, seeded: list[str]) -> None:
    with pytest.raises(UserError) as refused:
        cd.request_rollback(
            api, namespace=ARGOCD_NAMESPACE, name="billing-dev", history_id=None, username="bob"
        )

    assert "only one entry" in str(refused.value)


def _automate(admin: client.CustomObjectsApi, name: str) -> None:
    patch = {"spec": {"syncPolicy": {"automated": {"prune": True}, "syncOptions": ["CreateNamespace=true"]}}}
    admin.patch_namespaced_custom_object(
        "argoproj.io", "v1alpha1", ARGOCD_NAMESPACE, "applications", name, patch
    )


def test_rollback_is_refused_while_auto_sync_is_on(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi
) -> None:
    _automate(admin, "shop-dev")

    with pytest.raises(UserError) as refused:
        cd.request_rollback(api, namespace=ARGOCD_NAMESPACE, name="shop-dev", history_id=0, username="bob")

    assert "rollback cannot be initiated when auto-sync is enabled" in str(refused.value)
    assert "--sync-policy none" in str(refused.value)
    app = read_app(admin, "shop-dev")
    assert "operation" not in app
    assert cd.is_auto_sync(app)


def test_rollback_can_turn_auto_sync_off_first(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi
) -> None:
    _automate(admin, "shop-dev")

    plan = cd.request_rollback(
        api, namespace=ARGOCD_NAMESPACE, name="shop-dev", history_id=0, username="bob", disable_auto_sync=True
    )

    assert plan.auto_sync_disabled
    app = wait_operation_done(admin, "shop-dev")
    assert not cd.is_auto_sync(app)
    assert app["spec"]["syncPolicy"] == {
        "syncOptions": ["CreateNamespace=true"]
    }  # the rest of the policy stays
    assert app["status"]["history"][-1]["revision"] == app["status"]["history"][0]["revision"]


def test_a_rollback_while_a_sync_runs_is_refused(
    api: client.ApiClient, admin: client.CustomObjectsApi, app_controller: ApplicationController
) -> None:
    app_controller.script_app("slow", resources=SLOW_RESOURCES)
    create_app(admin, application("slow"))
    cd.request_sync(api, namespace=ARGOCD_NAMESPACE, name="slow", username="alice")

    with pytest.raises(OperationInProgress):
        cd.request_rollback(api, namespace=ARGOCD_NAMESPACE, name="slow", history_id=None, username="bob")


def test_syncing_an_app_that_does_not_exist_says_not_found(api: client.ApiClient) -> None:
    with pytest.raises(KubeNotFound):
        cd.request_sync(api, namespace=ARGOCD_NAMESPACE, name="ghost", username="bob")
