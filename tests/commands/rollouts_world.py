"""Canaries of their own for the rollout tests: on `dev`, namespace `web`, paused at step 2 of 5
(weight 20) by the sandbox's Rollouts controller, as Argo Rollouts would pause them."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from commands_world import GROUP, VERSION, Tier
from kubernetes import client

from bot.sandbox.argo.samples import CHECKOUT_STEPS, demo_rollout

NS = "web"
_numbers: Iterator[int] = itertools.count(1)


def rollout(tier: Tier, name: str) -> dict[str, Any]:
    """The Rollout as the stand-in's store holds it."""
    return dict(tier.sandbox.kube["dev"].store.get(GROUP, VERSION, "rollouts", NS, name))


def status(tier: Tier, name: str) -> dict[str, Any]:
    return dict(rollout(tier, name).get("status") or {})


def until(tier: Tier, name: str, what: str, check: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    """Wait (30 s at most) until the Rollout's status passes `check`; that status."""
    found: dict[str, Any] = tier.wait(
        lambda: (lambda s: s if check(s) else None)(status(tier, name)), message=f"{name}: {what}", timeout=30
    )
    return found


def paused_canary(tier: Tier, prefix: str, steps: list[dict[str, Any]] = CHECKOUT_STEPS) -> str:
    """A new canary (revision 1 healthy, then a new image) paused at step 2 with weight 20."""
    name = f"{prefix}-{next(_numbers)}"
    api = client.CustomObjectsApi(tier.world.bot.registry.api_client("dev"))
    api.create_namespaced_custom_object(
        GROUP, VERSION, NS, "rollouts", demo_rollout(name, image="web:1.0", steps=steps)
    )
    until(tier, name, "revision 1 healthy", lambda s: s.get("phase") == "Healthy")
    image = {"spec": {"template": {"spec": {"containers": [{"name": name, "image": "web:1.1"}]}}}}
    api.patch_namespaced_custom_object(GROUP, VERSION, NS, "rollouts", name, image)
    until(
        tier,
        name,
        "paused at step 2",
        lambda s: s.get("phase") == "Paused" and s.get("currentStepIndex") == 1,
    )
    return name
