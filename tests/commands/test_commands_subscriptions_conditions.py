"""Health episodes, flapping and a lasting OutOfSync, told to a subscribed channel.

The Application's status is written with the kubernetes client, as Argo CD's controller
writes it after each reconciliation; the real bot's Applications watch sees it and the
subscribed channel gets one message per episode, its recovery in the episode's thread, one
message for a flapping app and one when it settles, and a drift only once it lasted.
Debounces are shortened to seconds in the config (`debounce:`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commands_world import GROUP, VERSION, Tier, argo_world
from e2e_world import DEV, OPS_CHANNEL
from e2e_world import message_text as _text
from kubernetes import client

from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld

SECONDS = 1 / 60
DEBOUNCE = {
    "out_of_sync_minutes": 2 * SECONDS,
    "flapping_episodes": 3,
    "flapping_window_minutes": 10,
    "settle_minutes": 2 * SECONDS,
}


@pytest.fixture
def conditions_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    # acts for the developer, who may get dev apps only, yet names apps on every cluster
    configured = [
        {
            "channel": OPS_CHANNEL,
            "kind": "apps",
            "name": "guarded-*",
            "owner": DEV,
            "triggers": ["health-degraded"],
        }
    ]
    with argo_world(tmp_path, sandbox, debounce=DEBOUNCE, subscriptions=configured) as tier:
        yield tier


def _new_app(tier: Tier, name: str, *, destination: str = "dev") -> None:
    """An Application of its own for each test (the sandbox lives for the whole module)."""
    api = client.CustomObjectsApi(tier.world.bot.registry.api_client("dev"))
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "project": "default",
            "source": {
                "repoURL": "https://git.example.com/deploy.git",
                "path": name,
                "targetRevision": "main",
            },
            "destination": {"name": destination, "namespace": "apps"},
        },
    }
    api.create_namespaced_custom_object(GROUP, VERSION, ARGOCD_NAMESPACE, "applications", body)
    _status(tier, name, health="Healthy")


def _status(tier: Tier, app: str, *, health: str, sync: str = "Synced", message: str = "") -> None:
    """What Argo CD's controller writes after a reconciliation (one MODIFIED event each)."""
    api = client.CustomObjectsApi(tier.world.bot.registry.api_client("dev"))
    resource_health: dict[str, Any] = {"status": health}
    if message:
        resource_health["message"] = message
    body = {
        "status": {
            "health": {"status": health},
            "sync": {"status": sync, "revision": "0123456789abcdef0123456789abcdef01234567"},
            "resources": [
                {
                    "group": "apps",
                    "version": "v1",
                    "kind": "Deployment",
                    "namespace": "shop",
                    "name": app,
                    "status": sync,
                    "health": resource_health,
                },
            ],
        }
    }
    api.patch_namespaced_custom_object_status(GROUP, VERSION, ARGOCD_NAMESPACE, "applications", app, body)


def _about(tier: Tier, app: str) -> list[dict[str, Any]]:
    return [m for m in tier.world.driver.messages(OPS_CHANNEL) if f"*{app}*" in _text(m)]


def _with(tier: Tier, app: str, words: str) -> list[dict[str, Any]]:
    return [m for m in _about(tier, app) if words in _text(m)]


def test_a_degraded_app_gets_one_message_per_episode_and_its_recovery_in_the_thread(
    conditions_tier: Tier,
) -> None:
    tier = conditions_tier
    _new_app(tier, "orders-dev")
    added = tier.do(DEV, "subscribe apps 'orders-dev' --cluster dev --on health-degraded,health-recovered")
    assert "subscribed this channel" in added.text, added.text

    _status(tier, "orders-dev", health="Degraded", message="Deployment exceeded its progress deadline")
    tier.wait(lambda: _with(tier, "orders-dev", "is *Degraded*"), message="the episode's message")
    _status(tier, "orders-dev", health="Degraded", message="still exceeded")  # a resync
    _status(tier, "orders-dev", health="Progressing")
    _status(tier, "orders-dev", health="Degraded", message="exceeded again")
    _status(tier, "orders-dev", health="Healthy")

    def recovered() -> list[dict[str, Any]]:
        parent = _with(tier, "orders-dev", "was Degraded for")
        if not parent:
            return []
        replies = tier.world.driver.replies(OPS_CHANNEL, parent[0]["ts"])[1:]
        return [r for r in replies if "is *Healthy* again" in _text(r)]

    tier.wait(recovered, message="the recovery reply and the episode's message edited")
    episodes = _about(tier, "orders-dev")
    assert len(episodes) == 1, [_text(m) for m in episodes]  # one message for the whole episode
    audit = [e for e in tier.world.audit.recent(limit=50) if e.command == "subscription"]
    assert any(e.detail == "posted (degraded)" and e.object == "dev/default/orders-dev" for e in audit), audit


def test_a_flapping_app_is_summarised_not_posted_at_every_change(conditions_tier: Tier) -> None:
    tier = conditions_tier
    _new_app(tier, "flaky-dev")
    tier.do(DEV, "subscribe apps 'flaky-dev' --cluster dev --on health-degraded,health-recovered")
    for _ in range(6):
        _status(tier, "flaky-dev", health="Degraded", message="CrashLoopBackOff")
        _status(tier, "flaky-dev", health="Healthy")

    settled = tier.wait(
        lambda: _with(tier, "flaky-dev", "stopped flapping"), message="the message saying it settled"
    )
    assert "is *Healthy*: 6 Degraded episodes" in _text(settled[0]), _text(settled[0])
    assert len(_with(tier, "flaky-dev", "is *flapping*")) == 1
    # the first two episodes were told as they came (each edited once it ended); the rest counted
    assert len(_with(tier, "flaky-dev", "was Degraded for")) == 2
    assert len(_about(tier, "flaky-dev")) == 4


def test_out_of_sync_is_told_once_it_lasted_and_a_short_drift_never(conditions_tier: Tier) -> None:
    tier = conditions_tier
    _new_app(tier, "drift-a-dev")
    _new_app(tier, "drift-b-dev")
    tier.do(DEV, "subscribe apps 'drift-*' --cluster dev --on out-of-sync")
    _status(tier, "drift-a-dev", health="Healthy", sync="OutOfSync")  # a drift that ends at once
    _status(tier, "drift-a-dev", health="Healthy", sync="Synced")
    _status(tier, "drift-b-dev", health="Healthy", sync="OutOfSync")  # one that lasts

    drift = tier.wait(lambda: _with(tier, "drift-b-dev", "has been *OutOfSync*"), message="the lasting drift")
    assert "0123456789" in _text(drift[0])  # the revision it wants
    assert _about(tier, "drift-a-dev") == []  # its drift began earlier and was over at once

    _status(tier, "drift-b-dev", health="Healthy", sync="Synced")
    tier.wait(
        lambda: _with(tier, "drift-b-dev", "was OutOfSync for"),
        message="the drift's message edited when it ended",
    )
    assert len(_about(tier, "drift-b-dev")) == 1


def test_a_subscription_never_tells_about_an_app_its_creator_may_not_get(conditions_tier: Tier) -> None:
    tier = conditions_tier
    _new_app(tier, "guarded-prod", destination="prod")
    _new_app(tier, "guarded-dev")

    _status(tier, "guarded-prod", health="Degraded", message="ImagePullBackOff")
    _status(tier, "guarded-dev", health="Degraded", message="ImagePullBackOff")

    tier.wait(lambda: _with(tier, "guarded-dev", "is *Degraded*"), message="the dev app's episode")
    assert _about(tier, "guarded-prod") == []  # its change came first, and was refused
    refused = [e for e in tier.world.audit.recent(limit=50) if e.object == "prod/default/guarded-prod"]
    assert refused and refused[0].result == "refused" and refused[0].actor_id == DEV
