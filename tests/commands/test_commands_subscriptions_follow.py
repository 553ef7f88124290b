"""Syncs and Workflows started outside the bot, followed in the channels subscribed to them.

The operation is written on the Application with the kubernetes client, as the Argo CD UI
does; the sandbox's Argo CD runs it; the real bot's Applications watch sees it and the
subscribed channel gets one parent, its thread and one final, with the person who started it
@-mentioned. A subscription shows nothing its creator could not `get`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commands_world import ARGO_POLICY, GROUP, VERSION, Tier, argo_clusters, argo_world
from e2e_world import ADMIN, DEV, OPS_CHANNEL
from e2e_world import message_text as _text
from kubernetes import client

from bot.render.runs import ACTION_LOGS
from bot.sandbox.argo.appscript import AppResource
from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld

#: The developer may get dev apps only; a config subscription of theirs asks for every shop app.
POLICY = ARGO_POLICY + (
    "p, role:developer, subscriptions, get, *, allow\np, role:developer, workflows, get, dev/*, allow\n"
)
ERIN, ERIN_EMAIL = "UERIN0001", "erin@example.com"  # a Slack user who uses the Argo CD UI


@pytest.fixture
def follow_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    clusters = argo_clusters(sandbox, watch_namespaces=["batch"])
    configured = [
        {"channel": OPS_CHANNEL, "kind": "apps", "name": "shop-*", "owner": DEV, "triggers": ["sync-failed"]},
    ]
    with argo_world(tmp_path, sandbox, policy=POLICY, clusters=clusters, subscriptions=configured) as tier:
        tier.world.driver.add_user(ERIN, name="erin", email=ERIN_EMAIL)
        yield tier


def _sync_from_outside(tier: Tier, app: str, *, revision: str, username: str = ERIN_EMAIL) -> None:
    """What the Argo CD UI writes: an `operation` with `initiatedBy`, and no marker of the bot."""
    api = client.CustomObjectsApi(tier.world.bot.registry.api_client("dev"))
    body = {"operation": {"sync": {"revision": revision}, "initiatedBy": {"username": username}}}
    api.patch_namespaced_custom_object(GROUP, VERSION, ARGOCD_NAMESPACE, "applications", app, body)


def _parents(tier: Tier, app: str, channel: str = OPS_CHANNEL) -> list[dict[str, Any]]:
    return [m for m in tier.world.driver.messages(channel) if f"sync · {app}" in _text(m)]


def _finals(tier: Tier, parent: dict[str, Any], app: str, channel: str = OPS_CHANNEL) -> list[str]:
    replies = tier.world.driver.replies(channel, parent["ts"])[1:]
    return [_text(r) for r in replies if f"sync · {app}:" in _text(r)]


def _operation_over(tier: Tier, app: str) -> bool:
    found = tier.app(app)
    phase = ((found.get("status") or {}).get("operationState") or {}).get("phase")
    return "operation" not in found and phase in ("Succeeded", "Failed", "Error")


def _wait_final(tier: Tier, app: str, phase: str) -> tuple[dict[str, Any], list[str]]:
    def done() -> tuple[dict[str, Any], list[str]] | None:
        for parent in _parents(tier, app):
            finals = _finals(tier, parent, app)
            if finals and phase in _text(parent):
                return parent, finals
        return None

    found: tuple[dict[str, Any], list[str]] = tier.wait(done, message=f"the final of {app}'s sync ({phase})")
    return found


def test_a_sync_started_in_the_argo_cd_ui_gets_a_thread_with_one_final_and_mentions_who(
    follow_tier: Tier,
) -> None:
    tier = follow_tier
    added = tier.do(
        DEV, "subscribe apps 'billing-*' --cluster dev --on sync-started,sync-succeeded,sync-failed"
    )
    assert "subscribed this channel" in added.text, added.text

    before = len(_parents(tier, "billing-dev"))  # the sandbox's Slack lives for the whole module
    _sync_from_outside(tier, "billing-dev", revision="v3.3.0")

    parent, finals = _wait_final(tier, "billing-dev", "Succeeded")
    assert len(_parents(tier, "billing-dev")) == before + 1
    assert len(finals) == 1 and "billing-dev: succeeded" in finals[0]
    shown = _text(parent)
    assert f"*Started by*\n<@{ERIN}> ({ERIN_EMAIL})" in shown, shown
    assert f"started by <@{ERIN}> ({ERIN_EMAIL})" in finals[0]
    # the thread has the sync's resources, like a sync the bot started
    replies = tier.world.driver.replies(OPS_CHANNEL, parent["ts"])[1:]
    assert len(replies) >= 2


def test_with_only_outcome_triggers_the_parent_comes_in_its_final_state_and_failures_only(
    follow_tier: Tier, sandbox: SandboxWorld
) -> None:
    tier = follow_tier
    assert sandbox.app_controller is not None
    sandbox.app_controller.script_app(
        "billing-dev",
        resources=[AppResource(kind="Deployment", name="billing", api_version="apps/v1")],
        fail_revisions=("v9.9.9-bad",),
    )
    tier.do(DEV, "subscribe apps 'billing-*' --cluster dev --on sync-failed")
    before = len(_parents(tier, "billing-dev"))  # the sandbox's Slack lives for the whole module

    _sync_from_outside(tier, "billing-dev", revision="v9.9.9-bad", username="automated-pipeline@example.com")

    parent, finals = _wait_final(tier, "billing-dev", "Failed")
    assert len(_parents(tier, "billing-dev")) == before + 1
    assert len(finals) == 1 and "billing-dev: failed" in finals[0]
    assert "automated-pipeline@example.com" in _text(parent)  # no Slack user has it: named, not mentioned


def test_a_subscription_never_posts_an_app_its_creator_may_not_get(
    follow_tier: Tier, sandbox: SandboxWorld
) -> None:
    tier = follow_tier
    assert sandbox.app_controller is not None
    for app in ("shop-prod", "shop-dev"):
        sandbox.app_controller.script_app(
            app,
            resources=[AppResource(kind="Deployment", name="shop", api_version="apps/v1")],
            fail_revisions=("v0.0.1-broken",),
        )
    # the config file's `shop-*` subscription acts for the developer, who may get dev apps only
    _sync_from_outside(tier, "shop-prod", revision="v0.0.1-broken")
    tier.wait(lambda: _operation_over(tier, "shop-prod"), message="the prod sync to end")
    _sync_from_outside(tier, "shop-dev", revision="v0.0.1-broken")

    _wait_final(tier, "shop-dev", "Failed")  # the watch saw shop-prod end before this
    assert _parents(tier, "shop-prod") == []
    assert not any("shop-prod" in _text(m) for m in tier.world.driver.messages(OPS_CHANNEL))


def test_a_workflow_submitted_with_the_kubernetes_client_fails_and_the_channel_gets_its_last_log_lines(
    follow_tier: Tier,
) -> None:
    tier = follow_tier
    added = tier.do(DEV, "subscribe workflows 'db-*' --cluster dev")
    assert "workflows from templates `db-*` on `dev`, on failed" in added.text, added.text

    api = client.CustomObjectsApi(tier.world.bot.registry.api_client("dev"))
    body = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workflow",
        "metadata": {"generateName": "db-migration-", "namespace": "argo"},
        "spec": {
            "workflowTemplateRef": {"name": "db-migration"},
            "arguments": {"parameters": [{"name": "database", "value": "orders"}]},
        },
    }
    created = api.create_namespaced_custom_object(GROUP, VERSION, "argo", "workflows", body)
    name = created["metadata"]["name"]

    def failed_thread() -> tuple[dict[str, Any], list[str]] | None:
        for message in tier.world.driver.messages(OPS_CHANNEL):
            if name in _text(message) and "Failed" in _text(message):
                replies = tier.world.driver.replies(OPS_CHANNEL, message["ts"])[1:]
                finals = [_text(r) for r in replies if "steps succeeded" in _text(r)]
                if finals:
                    return message, finals
        return None

    parent, finals = tier.wait(failed_thread, message=f"the failure of {name} in the subscribed channel")
    assert sum(name in _text(m) for m in tier.world.driver.messages(OPS_CHANNEL)) == 1
    assert len(finals) == 1
    assert "Submitted by" in _text(parent)
    # the failed step's last log lines, as for a run typed in Slack
    assert "violates foreign key constraint" in finals[0], finals[0]

    # its Logs button works like on a run typed in Slack, checked for whoever clicks it
    run = next(r for r in tier.runs.recent(kind="workflow", limit=20) if r.parameters.get("workflow") == name)
    logs = tier.click(ADMIN, ACTION_LOGS, run.id)
    assert ":x: `migrate`" in logs.text and "main.log" in logs.text, logs.text  # its S3 log links
    assert tier.last_audit(ADMIN).object == "dev/argo/db-migration"


def test_a_workflow_of_a_cluster_bound_to_another_channel_is_never_posted_in_the_subscribed_one(
    follow_tier: Tier,
) -> None:
    # Workflows are read only in their cluster's channels: prod takes them in PROD_CHANNEL only,
    # so a subscription in OPS_CHANNEL for every cluster gets dev's failure and never prod's.
    tier = follow_tier
    added = tier.do(ADMIN, "subscribe workflows 'db-*'")
    assert "workflows from templates `db-*`" in added.text, added.text

    def submit(cluster: str) -> str:
        api = client.CustomObjectsApi(tier.world.bot.registry.api_client(cluster))
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workflow",
            "metadata": {"generateName": "db-migration-", "namespace": "argo"},
            "spec": {"workflowTemplateRef": {"name": "db-migration"}},
        }
        return str(
            api.create_namespaced_custom_object(GROUP, VERSION, "argo", "workflows", body)["metadata"]["name"]
        )

    def phase(cluster: str, name: str) -> str:
        api = client.CustomObjectsApi(tier.world.bot.registry.api_client(cluster))
        workflow = api.get_namespaced_custom_object(GROUP, VERSION, "argo", "workflows", name)
        return str((workflow.get("status") or {}).get("phase") or "")

    on_prod = submit("prod")
    tier.wait(lambda: phase("prod", on_prod) == "Failed", message=f"{on_prod} to fail on prod")
    on_dev = submit("dev")
    tier.wait(
        lambda: any(
            on_dev in _text(m) and "Failed" in _text(m) for m in tier.world.driver.messages(OPS_CHANNEL)
        ),
        message=f"the failure of {on_dev} in the subscribed channel",
    )
    assert not any(on_prod in _text(m) for m in tier.world.driver.messages(OPS_CHANNEL))


def test_workflows_by_label_selector_and_by_namespace_post_only_what_matches(follow_tier: Tier) -> None:
    tier = follow_tier
    api = client.CustomObjectsApi(tier.world.bot.registry.api_client("dev"))
    # a second namespace the bot watches on dev, with its own copy of the template
    template = api.get_namespaced_custom_object(GROUP, VERSION, "argo", "workflowtemplates", "db-migration")
    copy = {k: v for k, v in template.items() if k in ("apiVersion", "kind", "spec")}
    copy["metadata"] = {"name": "db-migration", "namespace": "batch"}
    api.create_namespaced_custom_object(GROUP, VERSION, "batch", "workflowtemplates", copy)

    unwatched = tier.do(ADMIN, "subscribe workflows '*' --cluster dev --namespace payroll")
    assert "does not watch Workflows in namespace `payroll`" in unwatched.text, unwatched.text
    assert "`argo`, `batch`" in unwatched.text
    bad = tier.do(ADMIN, "subscribe workflows '*' --cluster dev --selector 'team in (data)'")
    assert "is not a label selector" in bad.text, bad.text
    by_label = tier.do(ADMIN, "subscribe workflows '*' --cluster dev --selector 'team=data,tier!=test'")
    assert "labelled `team=data,tier!=test`" in by_label.text, by_label.text
    by_namespace = tier.do(ADMIN, "subscribe workflows 'db-*' --cluster dev --namespace batch")
    assert "in namespace `batch`" in by_namespace.text, by_namespace.text

    def submit(namespace: str, labels: dict[str, str]) -> str:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Workflow",
            "metadata": {"generateName": "db-migration-", "namespace": namespace, "labels": labels},
            "spec": {"workflowTemplateRef": {"name": "db-migration"}},
        }
        created = api.create_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", body)
        return str(created["metadata"]["name"])

    def failed_in_slack(name: str) -> bool:
        return any(name in _text(m) and "Failed" in _text(m) for m in tier.world.driver.messages(OPS_CHANNEL))

    def phase(namespace: str, name: str) -> str:
        found = api.get_namespaced_custom_object(GROUP, VERSION, namespace, "workflows", name)
        return str((found.get("status") or {}).get("phase") or "")

    web = submit("argo", {"team": "web"})
    tested = submit("argo", {"team": "data", "tier": "test"})
    tier.wait(
        lambda: phase("argo", web) == phase("argo", tested) == "Failed", message="the unmatched to fail"
    )
    data = submit("argo", {"team": "data"})
    in_batch = submit("batch", {})
    tier.wait(lambda: failed_in_slack(data), message="the labelled Workflow's failure")
    tier.wait(lambda: failed_in_slack(in_batch), message="the failure in the watched namespace")
    assert not failed_in_slack(web) and not failed_in_slack(tested)
