"""The demo's bot settings (`bot.demo.settings.config_for`) and its policy, read as the bot reads them.

The description is written by hand in `SandboxWorld.describe()`'s shape, so no world starts.
The people and their groups come from the seeded workspace (`bot.sandbox.world`), so the
policy is checked against who the demo says they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, parse_settings
from bot.demo.settings import config_for, production_cluster
from bot.rbac.policy import subjects_for
from bot.rbac.source import PolicySource
from bot.sandbox.world import DEMO_CHANNELS, DEMO_CLUSTERS, DEMO_GROUPS, DEMO_USERS

CHANNELS = {name: channel_id for channel_id, name in DEMO_CHANNELS}


def _description(tmp_path: Path, clusters: tuple[str, ...]) -> dict[str, Any]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    return {
        "slack": {"api_url": "http://127.0.0.1:1/api/", "team_id": "T0SANDBOX"},
        "clusters": {
            name: {"context": name, "workflows_namespace": "argo", "argocd": index == 0}
            for index, name in enumerate(clusters)
        },
        "argocd": {"cluster": clusters[0], "namespace": "argocd"},
        "aws": {"endpoint_url": "http://127.0.0.1:2"},
        "logs": {
            "bucket": "argo-logs-x",
            "region": "us-east-1",
            "key_format": "{{workflow.name}}/{{pod.name}}",
        },
        "kubeconfig": str(kubeconfig),
    }


def _settings(tmp_path: Path, clusters: tuple[str, ...] = DEMO_CLUSTERS) -> Settings:
    config = config_for(_description(tmp_path, clusters), state_dir=tmp_path, channels=CHANNELS)
    return parse_settings(
        config, source="demo", environ={"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
    )


def test_production_takes_commands_only_from_prod_ops_and_cards_go_to_approvals(tmp_path: Path) -> None:
    settings = _settings(tmp_path)

    by_name = {c.name: c for c in settings.clusters}
    assert by_name["production"].channels == (CHANNELS["prod-ops"],)
    assert by_name["staging"].channels == ()
    assert by_name["staging"].argocd_namespace == "argocd" and by_name["production"].argocd_namespace is None
    assert settings.slack.approvals_channel == CHANNELS["approvals"] == "C0APPROVE"
    assert settings.clusters[0].name == "staging"  # the default cluster


def test_each_cluster_links_to_its_argo_ui_and_the_one_argo_cd(tmp_path: Path) -> None:
    by_name = {c.name: c for c in _settings(tmp_path).clusters}

    assert by_name["staging"].argo_ui_url == "https://argo.staging.example.com"
    assert by_name["production"].argo_ui_url == "https://argo.production.example.com"
    assert {c.argocd_ui_url for c in by_name.values()} == {"https://argocd.example.com"}


def test_an_app_health_report_is_scheduled_in_deploys_every_two_minutes(tmp_path: Path) -> None:
    (schedule,) = _settings(tmp_path).schedules

    assert (schedule.kind, schedule.cron, schedule.channel) == ("app-health", "*/2 * * * *", "C0DEPLOYS")
    assert schedule.cluster is None  # every cluster's apps


@pytest.mark.parametrize(
    ("clusters", "production"),
    [
        (("staging", "production"), "production"),
        (("dev", "prod"), "prod"),
        (("eu", "us"), "us"),
        (("sandbox",), None),
    ],
)
def test_the_production_cluster_is_the_one_named_so_else_the_last_of_several(
    tmp_path: Path, clusters: tuple[str, ...], production: str | None
) -> None:
    assert production_cluster(list(clusters)) == production
    bound = [c.name for c in _settings(tmp_path, clusters).clusters if c.channels]
    assert bound == ([production] if production else [])


def _person(name: str) -> list[str]:
    user_id, _, email = next(u for u in DEMO_USERS if u[1] == name)
    groups = [handle for _, handle, members, _ in DEMO_GROUPS if user_id in members]
    return subjects_for(user_id=user_id, email=email, groups=groups)


# (person, resource, action, object, allowed)
DECISIONS = [
    # alice, platform admin: everything
    ("alice", "audit", "get", "*", True),
    ("alice", "workflows", "terminate", "production/argo/orders-backfill", True),
    ("alice", "approvals", "approve", "production/shop/shop-production", True),
    ("alice", "schedules", "create", "nightly", True),
    # bob, developer: staging only, but may ask for rollbacks anywhere
    ("bob", "workflows", "run", "staging/argo/orders-backfill", True),
    ("bob", "workflows", "stop", "staging/argo/orders-backfill", True),
    ("bob", "workflows", "run", "production/argo/hello", False),
    ("bob", "applications", "sync", "staging/payments/payments-api-staging", True),
    ("bob", "applications", "sync", "production/shop/shop-production", False),
    ("bob", "applications", "rollback", "production/shop/shop-production", True),
    ("bob", "approvals", "approve", "staging/shop/shop-staging", False),
    ("bob", "audit", "get", "*", False),
    # carol, SRE lead: everything on production, staging as a developer, approves rollbacks
    ("carol", "workflows", "terminate", "production/argo/orders-backfill", True),
    ("carol", "applications", "sync", "production/platform/monitoring-production", True),
    ("carol", "applications", "rollback", "production/shop/shop-production", True),
    ("carol", "approvals", "approve", "production/shop/shop-production", True),
    ("carol", "workflows", "run", "staging/argo/release", True),
    ("carol", "workflows", "terminate", "staging/argo/release", False),
    ("carol", "audit", "get", "*", False),
    # dave, viewer: reads everything, changes nothing
    ("dave", "workflows", "get", "production/argo/release", True),
    ("dave", "workflows", "logs", "staging/argo/db-migration", True),
    ("dave", "applications", "get", "production/payments/ledger-production", True),
    ("dave", "workflows", "run", "staging/argo/hello", False),
    ("dave", "applications", "sync", "staging/shop/cart-staging", False),
    ("dave", "applications", "rollback", "staging/shop/shop-staging", False),
]


@pytest.mark.parametrize(("person", "resource", "action", "obj", "allowed"), DECISIONS)
def test_each_person_may_do_what_the_demo_says(
    tmp_path: Path, person: str, resource: str, action: str, obj: str, allowed: bool
) -> None:
    enforcer = PolicySource.from_settings(_settings(tmp_path)).current()

    assert enforcer.can(_person(person), resource=resource, action=action, obj=obj) is allowed
