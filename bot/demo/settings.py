"""Bot settings for a running sandbox world. Pure: a description dict in, a config mapping out.

What the demo configures, as a production setup would:
- the production cluster (the one named `production` or `prod`, else the last of several)
  accepts commands only from #prod-ops, so the channel rule can be tried;
- approval cards go to #approvals; syncs of production's payments apps need an approval
  (`approvals.require_for`), and a rollback may turn auto-sync off (the app stays pinned);
- Argo Workflows and Argo CD UI links (`https://argo.<cluster>.example.com`,
  `https://argocd.example.com`: one Argo CD for every cluster);
- Argo CD's API server (the sandbox's stand-in) with its token, so approval cards for a
  sync or a rollback show the manifest diff;
- a declared schedule, `app-health` in #deploys every two minutes, so a scheduled post
  shows up while someone is trying the demo;
- the policy in `bot/demo/policy.csv` (written for the demo's clusters, staging and
  production) with `role:readonly` for everyone else.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

DEMO_COMMAND = "/ops"
MAIN_CHANNEL_NAME = "deploys"
PROD_CHANNEL_NAME = "prod-ops"
APPROVALS_CHANNEL_NAME = "approvals"
PRODUCTION_NAMES = ("production", "prod")
ARGOCD_UI_URL = "https://argocd.example.com"
HEALTH_SCHEDULE = {"name": "app-health", "kind": "app-health", "cron": "*/2 * * * *"}


def demo_policy() -> str:
    return resources.files("bot.demo").joinpath("policy.csv").read_text(encoding="utf-8")


def production_cluster(names: list[str]) -> str | None:
    """The cluster the demo treats as production: one named production/prod, else the last of several."""
    for candidate in PRODUCTION_NAMES:
        if candidate in names:
            return candidate
    return names[-1] if len(names) > 1 else None


def config_for(description: dict[str, Any], *, state_dir: Path, channels: dict[str, str]) -> dict[str, Any]:
    """The config mapping (as `chatops.yaml` would hold it) for the sandbox in `description`.

    Args:
        description: `SandboxWorld.describe()`.
        state_dir: where the demo keeps its database.
        channels: channel name -> id in the sandbox workspace; the channel rules, the approvals
            channel and the schedule are set only for the channels present.
    """
    production = production_cluster(list(description["clusters"]))
    clusters = []
    for name, cluster in description["clusters"].items():
        entry: dict[str, Any] = {
            "name": name,
            "auth": {"kind": "kubeconfig", "path": description["kubeconfig"], "context": cluster["context"]},
            "workflows_namespace": cluster["workflows_namespace"],
            "argo_ui_url": f"https://argo.{name}.example.com",
            "argocd_ui_url": ARGOCD_UI_URL,
        }
        if cluster.get("argocd"):
            entry["argocd_namespace"] = description["argocd"]["namespace"]
        if name == production and PROD_CHANNEL_NAME in channels:
            entry["channels"] = [channels[PROD_CHANNEL_NAME]]
        clusters.append(entry)
    slack: dict[str, Any] = {
        "command": DEMO_COMMAND,
        "team_id": description["slack"]["team_id"],
        "api_url": description["slack"]["api_url"],
        "user_cache_ttl_seconds": 5,
    }
    if APPROVALS_CHANNEL_NAME in channels:
        slack["approvals_channel"] = channels[APPROVALS_CHANNEL_NAME]
    config: dict[str, Any] = {
        "slack": slack,
        "database": {"url": f"sqlite:///{state_dir / 'chatops-demo.db'}"},
        "clusters": clusters,
        "logs": {
            "bucket": description["logs"]["bucket"],
            "region": description["logs"]["region"],
            "key_format": description["logs"]["key_format"],
            "endpoint_url": description["aws"]["endpoint_url"],
        },
        "rbac": {"policy": demo_policy(), "default_role": "role:readonly"},
        "approvals": {
            "disable_auto_sync_on_rollback": True,
            "require_for": (
                [{"resource": "applications", "action": "sync", "object": f"{production}/payments/*"}]
                if production
                else []
            ),
        },
        "server": {"port": 0},
    }
    if "argocd_api" in description:  # the token goes in the environment (`demo_environ`), never here
        config["argocd"] = {"server_url": description["argocd_api"]["server_url"]}
    if MAIN_CHANNEL_NAME in channels:
        config["schedules"] = [{**HEALTH_SCHEDULE, "channel": channels[MAIN_CHANNEL_NAME]}]
    return config


def demo_environ(description: dict[str, Any]) -> dict[str, str]:
    """The bot's environment for the sandbox in `description`: the tokens a pod gets from Secrets."""
    environ = {
        "SLACK_BOT_TOKEN": description["slack"]["bot_token"],
        "SLACK_APP_TOKEN": description["slack"]["app_token"],
    }
    if "argocd_api" in description:
        environ["ARGOCD_AUTH_TOKEN"] = description["argocd_api"]["auth_token"]
    return environ
