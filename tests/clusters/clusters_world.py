"""Helpers for the cluster tests: settings pointing at the sandbox world, and a movable clock."""

from __future__ import annotations

import datetime as dt
import urllib.request
from pathlib import Path
from typing import Any

from bot.config import ClusterSettings
from bot.sandbox.world import SandboxWorld

PROD_TOKEN_ENV = "CHATOPS_TEST_PROD_TOKEN"


def eks_cluster(
    info: dict[str, Any], cluster: str, *, name: str | None = None, **auth: Any
) -> ClusterSettings:
    """Settings for `cluster` reached through EKS (AssumeRole into its account, as describe() says)."""
    eks = info["clusters"][cluster]["eks"]
    fields = {
        "kind": "eks",
        "cluster_name": eks["cluster_name"],
        "region": eks["region"],
        "role_arn": eks["role_arn"],
        "endpoint_url": info["aws"]["endpoint_url"],
    }
    fields.update(auth)
    return ClusterSettings.model_validate(
        {"name": name or cluster, "auth": fields, "argocd_namespace": "argocd" if cluster == "dev" else None}
    )


def token_cluster(
    *, name: str, server: str, ca_file: Path | None, token_env: str = PROD_TOKEN_ENV
) -> ClusterSettings:
    auth: dict[str, Any] = {"kind": "token", "server": server, "token_env": token_env}
    if ca_file is not None:
        auth["ca_file"] = str(ca_file)
    return ClusterSettings.model_validate({"name": name, "auth": auth})


class MovableClock:
    """Wall-clock time plus an offset the test moves forward to age tokens without waiting."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


def reset_aws(world: SandboxWorld) -> None:
    """Forget moto's accounts, roles and clusters (its state is process-wide), so the next
    world in this process can create its roles again. Uses moto's own reset endpoint."""
    request = urllib.request.Request(f"{world.aws.endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()
