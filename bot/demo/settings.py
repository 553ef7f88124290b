"""Bot settings for a running sandbox world. Pure: a description dict in, a config mapping out.

The demo binds the `prod` cluster to #prod-ops, as a production setup would, so the channel
rule can be tried from the terminal.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

DEMO_COMMAND = "/ops"
PROD_CHANNEL_NAME = "prod-ops"


def demo_policy() -> str:
    return resources.files("bot.demo").joinpath("policy.csv").read_text(encoding="utf-8")


def config_for(description: dict[str, Any], *, state_dir: Path, channels: dict[str, str]) -> dict[str, Any]:
    """The config mapping (as `chatops.yaml` would hold it) for the sandbox in `description`.

    Args:
        description: `SandboxWorld.describe()`.
        state_dir: where the demo keeps its database.
        channels: channel name -> id in the sandbox workspace.
    """
    clusters = []
    for name, cluster in description["clusters"].items():
        entry: dict[str, Any] = {
            "name": name,
            "auth": {"kind": "kubeconfig", "path": description["kubeconfig"], "context": cluster["context"]},
            "workflows_namespace": cluster["workflows_namespace"],
        }
        if cluster.get("argocd"):
            entry["argocd_namespace"] = description["argocd"]["namespace"]
        if name == "prod" and PROD_CHANNEL_NAME in channels:
            entry["channels"] = [channels[PROD_CHANNEL_NAME]]
        clusters.append(entry)
    return {
        "slack": {
            "command": DEMO_COMMAND,
            "team_id": description["slack"]["team_id"],
            "api_url": description["slack"]["api_url"],
            "user_cache_ttl_seconds": 5,
        },
        "database": {"url": f"sqlite:///{state_dir / 'chatops-demo.db'}"},
        "clusters": clusters,
        "logs": {
            "bucket": description["logs"]["bucket"],
            "region": description["logs"]["region"],
            "key_format": description["logs"]["key_format"],
            "endpoint_url": description["aws"]["endpoint_url"],
        },
        "rbac": {"policy": demo_policy(), "default_role": "role:readonly"},
        "server": {"port": 0},
    }
