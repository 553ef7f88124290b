"""`apps`, `app` and `history` as the bot reads them: through the kubernetes client, from Argo CD's
Applications in the sandbox (seeded demo apps plus apps created here), checked the way the
answers depend on them: filters, pages, history, RBAC objects, "not found" reading as "not allowed".
"""

from __future__ import annotations

import pytest
from cd_world import (
    ARGOCD_NAMESPACE,
    admin,
    app_controller,
    application,
    create_app,
    seeded,
    sync_and_wait,
)
from kubernetes import client

from bot.argo import cd
from bot.errors import KubeForbidden, UserError
from bot.sandbox.argo import ApplicationController, AppResource
from bot.sandbox.waiting import wait_until

__all__ = ["admin", "app_controller", "seeded"]  # fixtures, imported for pytest


def test_list_apps_shows_every_app_sorted_with_its_state(
    api: client.ApiClient, seeded: list[str], admin: client.CustomObjectsApi
) -> None:
    create_app(admin, application("aaa-fresh", project="payments"))
    wait_until(
        lambda: [a for a in cd.list_apps(api, namespace=ARGOCD_NAMESPACE) if a.sync_status == "OutOfSync"],
        timeout=10,
        message="the controller to initialise the new app",
    )

    apps = cd.list_apps(api, namespace=ARGOCD_NAMESPACE)

    assert [a.name for a in apps] == ["aaa-fresh", "billing-dev", "shop-dev"]
    shop = apps[2]
    assert (shop.project, shop.cluster, shop.namespace) == ("default", "dev", "shop")
    assert (shop.sync_status, shop.health_status, shop.auto_sync) == ("Synced", "Healthy", False)
    assert len(shop.revision) == 40  # Argo CD records the commit the tag resolved to
    assert shop.operation_phase == "Succeeded"
    fresh = apps[0]
    assert (fresh.sync_status, fresh.health_status, fresh.revision) == ("OutOfSync", "Missing", "")


def test_list_apps_filters_by_project_sync_and_health(
    api: client.ApiClient,
    seeded: list[str],
    admin: client.CustomObjectsApi,
    app_controller: ApplicationController,
) -> None:
    create_app(admin, application("checkout", project="payments"))
    wait_until(
        lambda: cd.list_apps(api, namespace=ARGOCD_NAMESPACE, project="payments"),
        timeout=10,
        message="checkout listed",
    )
    # billing fails on any v2.* revision (scripted): Degraded and out of sync afterwards.
    failed = sync_and_wait(admin, "billing-dev", "v2.0.0")
    assert failed["status"]["operationState"]["phase"] == "Failed"

    def names(**filters: object) -> list[str]:
        return [a.name for a in cd.list_apps(api, namespace=ARGOCD_NAMESPACE, **filters)]  # type: ignore[arg-type]

    assert names(project="payments") == ["checkout"]
    assert names(project="nope") == []
    wait_until(
        lambda: names(out_of_sync=True) == ["billing-dev", "checkout"], timeout=10, message="out of sync"
    )
    assert names(degraded=True) == ["billing-dev"]
    assert names(project="payments", out_of_sync=True) == ["checkout"]
    assert names(project="default", degraded=True) == ["billing-dev"]


def test_list_apps_follows_every_page(
    api: client.ApiClient, admin: client.CustomObjectsApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Seven apps read two at a time: the `continue` token must be followed to the end.
    for index in range(7):
        create_app(admin, application(f"app-{index}"))
    monkeypatch.setattr(cd, "LIST_PAGE_SIZE", 2)

    apps = cd.list_apps(api, namespace=ARGOCD_NAMESPACE)

    assert [a.name for a in apps] == [f"app-{i}" for i in range(7)]


def test_get_app_returns_source_last_operation_and_history(api: client.ApiClient, seeded: list[str]) -> None:
    detail = cd.get_app(api, namespace=ARGOCD_NAMESPACE, name="shop-dev")

    assert (detail.repo, detail.path, detail.target_revision) == (
        "https://git.example.com/platform/deploy.git",
        "apps/shop/dev",
        "main",
    )
    assert [entry.id for entry in detail.history] == [0, 1]
    first, second = detail.history
    assert first.revision != second.revision and len(second.revision) == 40
    assert second.initiated_by == "seed@example.com"
    assert second.repo == "https://git.example.com/platform/deploy.git"
    assert second.deployed_at is not None and first.deployed_at is not None
    assert second.deployed_at >= first.deployed_at
    assert detail.current == second
    operation = detail.last_operation
    assert operation is not None
    assert (operation.phase, operation.initiated_by) == ("Succeeded", "seed@example.com")
    assert operation.message == "successfully synced (all tasks run)"
    assert operation.revision == second.revision
    assert detail.summary.revision == second.revision


def test_require_app_answers_missing_and_refused_alike(api: client.ApiClient, seeded: list[str]) -> None:
    denial = "You may not see `{}` (or it does not exist)."
    objects = {"dev": "dev"}

    def allowed(summary: cd.AppSummary) -> bool:
        return cd.object_for(summary, cluster_name_of_destination=objects).startswith("dev/default/shop")

    detail = cd.require_app(
        api, namespace=ARGOCD_NAMESPACE, name="shop-dev", allowed=allowed, denial=denial.format("shop-dev")
    )
    assert detail.summary.name == "shop-dev"
    with pytest.raises(UserError) as refused:
        cd.require_app(
            api, namespace=ARGOCD_NAMESPACE, name="billing-dev", allowed=allowed, denial=denial.format("x")
        )
    with pytest.raises(UserError) as missing:
        cd.require_app(
            api, namespace=ARGOCD_NAMESPACE, name="nope", allowed=allowed, denial=denial.format("x")
        )
    assert str(refused.value) == str(missing.value) == denial.format("x")


def test_object_for_maps_destinations_to_the_bots_cluster_names(
    api: client.ApiClient, admin: client.CustomObjectsApi
) -> None:
    create_app(admin, application("by-name", destination="prod-eu", project="shop"))
    create_app(
        admin, application("by-url", server="https://ABC.gr7.eu-west-1.eks.amazonaws.com", project="shop")
    )
    create_app(admin, application("local", server="https://kubernetes.default.svc"))
    apps = {a.name: a for a in cd.list_apps(api, namespace=ARGOCD_NAMESPACE)}
    mapping = {"https://ABC.gr7.eu-west-1.eks.amazonaws.com": "prod"}

    assert cd.object_for(apps["by-name"], cluster_name_of_destination={"prod-eu": "prod-eu"}) == (
        "prod-eu/shop/by-name"
    )
    assert cd.object_for(apps["by-url"], cluster_name_of_destination=mapping) == "prod/shop/by-url"
    # unmapped: the cluster part is `*`, which only rules for every cluster match
    assert cd.object_for(apps["by-name"], cluster_name_of_destination=mapping) == "*/shop/by-name"
    assert cd.object_for(apps["by-url"], cluster_name_of_destination={}) == "*/shop/by-url"
    assert cd.object_for(apps["local"], cluster_name_of_destination={}) == "*/default/local"
    in_cluster = cd.destination_map(host="ops", clusters=[])
    assert cd.object_for(apps["local"], cluster_name_of_destination=in_cluster) == "ops/default/local"


def test_reading_apps_without_the_right_is_refused(viewer_api: client.ApiClient) -> None:
    with pytest.raises(KubeForbidden):
        cd.list_apps(viewer_api, namespace=ARGOCD_NAMESPACE)
    with pytest.raises(KubeForbidden):
        cd.get_app(viewer_api, namespace=ARGOCD_NAMESPACE, name="shop-dev")


def test_a_failed_hook_and_a_degraded_app_read_back(
    api: client.ApiClient, admin: client.CustomObjectsApi, app_controller: ApplicationController
) -> None:
    app_controller.script_app(
        "broken",
        resources=[
            AppResource(
                kind="Job", name="migrate", api_version="batch/v1", hook="PreSync", sync_error="backoff"
            ),
            AppResource(kind="Deployment", name="broken", api_version="apps/v1"),
        ],
    )
    create_app(admin, application("broken"))
    sync_and_wait(admin, "broken", "v1")

    detail = cd.get_app(api, namespace=ARGOCD_NAMESPACE, name="broken")

    assert detail.last_operation is not None and detail.last_operation.phase == "Failed"
    assert detail.history == ()
    assert detail.summary.health_status == "Degraded"
