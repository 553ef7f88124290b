"""A sync's thread shows the waves of the live resources on the destination cluster.

Two Kubernetes stand-ins over real sockets: `cd` hosts the sandbox's Argo CD, which deploys
to `prod`. The bot's follower (real store, outbox and Slack stand-in) watches the Applications
on `cd` with its own watcher and reads each resource's `argocd.argoproj.io/sync-wave` on `prod`
through `LiveWaves` and the bot's `ClusterRegistry`, as in production.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from tracking_world import CHANNEL, World, slack_world

from bot.argo import cd
from bot.argo.live_waves import LiveWaves
from bot.argo.watching import ResourceWatcher
from bot.clusters.registry import ClusterRegistry
from bot.config import ClusterSettings
from bot.records import Run
from bot.sandbox.argo import ApplicationController, AppResource, Destination
from bot.sandbox.argo.watching import build_api_client
from bot.sandbox.kube import KubeApiServer
from bot.sandbox.waiting import wait_until
from bot.tracking.follower import Follower, SyncPart
from bot.tracking.sync_tracker import operation_info

ADMIN = "sync-waves-admin"
BOT = "sync-waves-bot"
ARGOCD = "sync-waves-argocd"
G, V, NAMESPACE = "argoproj.io", "v1alpha1", "argocd"
# Slow enough (0.5 s between waves) that each wave's replies are in Slack before the summary is
# enqueued: the outbox skips progress replies a summary makes stale when posts pile up.
TIME_SCALE = 0.25
SCRIPT = [
    AppResource(kind="Job", name="migrate", api_version="batch/v1", hook="PreSync"),
    AppResource(kind="ConfigMap", name="shop-config", wave=-1),
    AppResource(kind="Deployment", name="shop", api_version="apps/v1"),
    AppResource(kind="Service", name="shop", wave=2),
    AppResource(kind="Ingress", name="shop", api_version="networking.k8s.io/v1", wave=2),
]


@dataclass
class Clusters:
    cd: KubeApiServer
    prod: KubeApiServer
    registry: ClusterRegistry
    argocd: ApplicationController
    admin: client.CustomObjectsApi
    bot_calls: list[tuple[str, str]]  # (verb, plural) the bot asked `prod` for


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with slack_world(tmp_path) as world:
        yield world


def _clusters(prod_refuses: Callable[[str, str], bool]) -> Iterator[Clusters]:
    """`cd` (Argo CD) and `prod`, where the bot (user `chatops-bot`) is refused what `prod_refuses`
    says, by verb and plural, as an RBAC Role without those rules would refuse it."""

    bot_calls: list[tuple[str, str]] = []

    def authorize(user: str, verb: str, group: str, plural: str, namespace: str | None) -> bool:
        if user == "chatops-bot":
            bot_calls.append((verb, plural))
        return not (user == "chatops-bot" and prod_refuses(verb, plural))

    cd_server = KubeApiServer(name="cd", tokens={ADMIN: "admin", BOT: "chatops-bot"}).start()
    prod = KubeApiServer(
        name="prod", tokens={ARGOCD: "argocd", BOT: "chatops-bot"}, authorize=authorize
    ).start()
    settings = [
        ClusterSettings.model_validate(
            {"name": name, "auth": {"kind": "token", "server": server.url, "token_env": "SYNC_WAVES_TOKEN"}}
        )
        for name, server in (("cd", cd_server), ("prod", prod))
    ]
    registry = ClusterRegistry(settings, environ={"SYNC_WAVES_TOKEN": BOT})
    argocd = ApplicationController(
        api_url=cd_server.url,
        token=ADMIN,
        time_scale=TIME_SCALE,
        destinations={"prod": Destination(api_url=prod.url, token=ARGOCD)},
    ).start()
    admin_client = build_api_client(url=cd_server.url, token=ADMIN)
    try:
        assert argocd.wait_synced(10)
        yield Clusters(cd_server, prod, registry, argocd, client.CustomObjectsApi(admin_client), bot_calls)
    finally:
        argocd.stop()
        admin_client.close()  # type: ignore[no-untyped-call]
        registry.close()
        prod.stop()
        cd_server.stop()


@pytest.fixture
def readable() -> Iterator[Clusters]:
    yield from _clusters(lambda verb, plural: False)


@pytest.fixture
def services_hidden() -> Iterator[Clusters]:
    """The bot may not read Services nor Ingresses on `prod`."""
    yield from _clusters(lambda verb, plural: plural in ("services", "ingresses"))


def _sync_followed(world: World, clusters: Clusters) -> tuple[Run, list[str]]:
    """Sync app `shop` (destination `prod`) as the bot does, follow it, return the run and its thread."""
    clusters.argocd.script_app("shop", resources=SCRIPT)
    app = {
        "apiVersion": f"{G}/{V}",
        "kind": "Application",
        "metadata": {"name": "shop", "namespace": NAMESPACE},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.example.com/shop.git",
                "path": "shop",
                "targetRevision": "main",
            },
            "destination": {"name": "prod", "namespace": "shop"},
        },
    }
    clusters.admin.create_namespaced_custom_object(G, V, NAMESPACE, "applications", app)
    wait_until(
        lambda: clusters.admin.get_namespaced_custom_object(G, V, NAMESPACE, "applications", "shop").get(
            "status"
        ),
        timeout=10,
        message="the new app to be reconciled",
    )
    follower: Follower = world.follower(
        [SyncPart(ui_urls={}, waves=LiveWaves(clusters.registry))], clock=lambda: datetime.now(UTC)
    )
    now = datetime.now(UTC)
    run = world.runs.create(
        kind="sync",
        cluster="cd",
        namespace=NAMESPACE,
        requester_id="U1",
        channel_id=CHANNEL,
        now=now,
        template="shop",
        revision="v1.0.0",
        parameters={"destination": "prod"},
    )
    run = follower.start_sync(world.runs.update_progress(run.id, now=now, name=f"shop@{run.id[:8]}"))

    def on_event(kind: str, obj: dict[str, Any]) -> None:
        follower.on_application("cd", obj)

    watcher = ResourceWatcher(
        clusters.registry.api_client("cd"),
        cluster="cd",
        group=G,
        version=V,
        plural="applications",
        namespace=NAMESPACE,
        on_event=on_event,
        timeout_seconds=5,
    ).start()
    try:
        wait_until(watcher.synced.is_set, timeout=10, message="the bot's watch to list")
        cd.request_sync(
            clusters.registry.api_client("cd"),
            namespace=NAMESPACE,
            name="shop",
            username="alice@example.com",
            revision="v1.0.0",
            info=operation_info(run.id),
        )
        wait_until(
            lambda: (stored := world.runs.get(run.id)) is not None and stored.final_posted,
            timeout=30,
            message="the sync's final state to be enqueued",
        )
    finally:
        watcher.stop()
    world.settle()
    [parent] = world.channel()
    return run, world.thread(parent["ts"])


def _waves(thread: list[str]) -> list[str]:
    return [line for line in thread if "wave" in line]


def test_the_thread_shows_each_wave_read_from_the_destination_in_order(
    world: World, readable: Clusters
) -> None:
    run, thread = _sync_followed(world, readable)

    assert _waves(thread) == [
        ":ocean: wave -1 started",
        ":ocean: wave 0 started",
        ":ocean: wave 2 started",
    ], thread
    started = {line: index for index, line in enumerate(thread)}
    synced = [i for i, line in enumerate(thread) if "Service/shop" in line or "Ingress/shop" in line]
    assert synced and min(synced) > started[":ocean: wave 2 started"]
    assert sum("shop: succeeded" in line for line in thread) == 1
    stored = world.runs.get(run.id)
    assert stored is not None and stored.phase == "Succeeded"
    # each live object read once for the operation, however many watch events it took; no hook
    assert sorted(readable.bot_calls) == [
        ("get", "configmaps"),
        ("get", "deployments"),
        ("get", "ingresses"),
        ("get", "services"),
    ]


def test_a_resource_the_bot_cannot_read_shows_as_wave_0_and_the_sync_still_ends_once(
    world: World, services_hidden: Clusters, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.argo.live_waves"):
        run, thread = _sync_followed(world, services_hidden)

    # the Service and the Ingress (wave 2 on the cluster) read as wave 0: no "wave 2" line
    assert _waves(thread) == [":ocean: wave -1 started", ":ocean: wave 0 started"]
    assert any("Service/shop" in line for line in thread) and any("Ingress/shop" in line for line in thread)
    assert sum("shop: succeeded" in line for line in thread) == 1
    stored = world.runs.get(run.id)
    assert stored is not None and stored.phase == "Succeeded" and stored.final_posted
    [line] = [r for r in caplog.records if r.name == "bot.argo.live_waves"]
    assert line.levelno == logging.INFO and "Service shop/shop" in line.getMessage()
    assert BOT not in line.getMessage()
