"""Argo CD from Slack end to end: apps, app, history, sync followed in a thread, and the refusals.

The sandbox's Argo CD runs on `dev` (namespace `argocd`) and deploys to `dev` and `prod`; the
seeded apps are the demo world's ten per cluster (`shop-<cluster>`, `billing-<cluster>`, ... in
projects shop, payments and platform). The bot is configured with `argocd_namespace` on `dev`
and one approval rule, and the policy gives developers the dev apps.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_world import (
    ADMIN,
    BASE_POLICY,
    DEV,
    OPS,
    OPS_CHANNEL,
    PROD_CHANNEL,
    World,
    seed_workspace,
    token_auth,
    write_config,
)
from e2e_world import message_text as _text

from bot.app import build_bot
from bot.config import parse_settings
from bot.sandbox.argo.appscript import AppResource
from bot.sandbox.slack import SlackDriver
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld
from bot.store import db as store_db
from bot.store.repos import AuditRepo

G, V = "argoproj.io", "v1alpha1"
POLICY = BASE_POLICY + (
    "p, role:developer, applications, get, dev/*, allow\n"
    "p, role:developer, applications, sync, dev/*, allow\n"
    "p, role:sre, applications, *, prod/*, allow\n"
    "p, role:sre, approvals, approve, */*/*, allow\n"
)


@pytest.fixture
def argo(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[World]:
    """The real bot, with Argo CD on `dev` and syncs of `billing-prod` guarded by an approval rule."""
    slack = sandbox.slack
    driver = SlackDriver(slack.control_url)
    seed_workspace(driver)
    policy_file = tmp_path / "policy.csv"
    policy_file.write_text(POLICY, encoding="utf-8")
    config = write_config(
        tmp_path,
        sandbox,
        clusters=[
            {"name": "dev", "auth": token_auth(sandbox, "dev"), "argocd_namespace": ARGOCD_NAMESPACE},
            {"name": "prod", "auth": token_auth(sandbox, "prod"), "channels": [PROD_CHANNEL]},
        ],
        approvals={
            "require_for": [{"resource": "applications", "action": "sync", "object": "prod/*/billing-*"}]
        },
    )
    env = {"SLACK_BOT_TOKEN": slack.bot_token, "SLACK_APP_TOKEN": slack.app_token}
    settings = parse_settings(yaml.safe_load(config.read_text()), source=str(config), environ=env)
    bot = build_bot(settings)
    bot.start()
    try:
        driver.wait_for(bot.is_connected, timeout=10, message="the bot's Socket Mode connection")
        database = store_db.connect(settings.database.url)
        yield World(
            slack=slack,
            driver=driver,
            bot=bot,
            settings=settings,
            policy_file=policy_file,
            audit=AuditRepo(database),
        )
        database.dispose()
    finally:
        bot.stop()


def _apps(sandbox: SandboxWorld) -> dict[str, dict[str, Any]]:
    items = sandbox.kube["dev"].store.list(G, V, "applications", ARGOCD_NAMESPACE)
    return {item["metadata"]["name"]: item for item in items}


def _parent(world: World, app: str, *, phase: str, channel: str = OPS_CHANNEL) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for message in world.driver.messages(channel):
            text = _text(message)
            if f"sync · {app}" in text and phase in text:
                return message
        return None

    return wait_until(find, timeout=30, message=f"the parent message of the sync of {app} to show {phase}")


def _summary(world: World, parent: dict[str, Any], *, contains: str) -> list[dict[str, Any]]:
    return wait_until(
        lambda: (
            (r := world.driver.replies(OPS_CHANNEL, parent["ts"]))
            and any(contains in _text(m) for m in r[1:])
            and r
        ),
        timeout=30,
        message=f"a thread reply containing {contains!r}",
    )


def test_apps_lists_only_what_the_caller_may_get_and_filters(argo: World) -> None:
    mine = _text(argo.command(DEV, "apps"))
    assert "shop-dev" in mine and "billing-dev" in mine
    assert "shop-prod" not in mine and "billing-prod" not in mine
    prod = _text(argo.command(ADMIN, "apps --cluster prod --project shop"))
    assert "shop-prod" in prod and "cart-prod" in prod
    assert "shop-dev" not in prod and "billing-prod" not in prod  # another cluster, another project
    assert "No application matches" in _text(argo.command(ADMIN, "apps --project nowhere"))
    refused = _text(argo.command("USTRANGE1", "apps"))
    assert "applications, get" in refused and "shop" not in refused


def test_app_and_history_show_the_detail_and_the_ids(argo: World) -> None:
    detail = _text(argo.command(DEV, "app shop-dev"))
    assert "shop-dev" in detail and "Synced" in detail and "Healthy" in detail
    history = _text(argo.command(DEV, "history shop-dev"))
    assert "*1* _(current)_" in history and "*0*" in history and "bob@example.com" in history
    assert "rollback shop-dev" in history
    row = argo.audit.recent(actor_id=DEV, limit=1)[0]
    assert (row.command, row.decision, row.result, row.object) == (
        "history",
        "allow",
        "ok",
        "dev/shop/shop-dev",
    )


def test_a_forbidden_app_reads_like_a_missing_one(argo: World) -> None:
    forbidden = _text(argo.command(DEV, "app shop-prod"))
    missing = _text(argo.command(DEV, "app shop-nowhere"))
    assert forbidden.replace("shop-prod", "X") == missing.replace("shop-nowhere", "X")
    assert "Synced" not in forbidden
    assert _text(argo.command(DEV, "sync shop-prod")).replace("shop-prod", "X") == _text(
        argo.command(DEV, "sync shop-nowhere")
    ).replace("shop-nowhere", "X")
    decisions = [(r.command, r.decision) for r in argo.audit.recent(actor_id=DEV, limit=4)]
    assert decisions == [("sync", "deny")] * 2 + [("app", "deny")] * 2


def test_sync_is_followed_in_a_thread_to_synced_and_recorded_in_history(
    argo: World, sandbox: SandboxWorld
) -> None:
    answer = _text(argo.command(DEV, "sync billing-dev --revision v3.2.0"))
    assert "Sync of `billing-dev` on `dev` requested" in answer
    parent = _parent(argo, "billing-dev", phase="Succeeded")
    replies = _summary(argo, parent, contains="billing-dev: succeeded")
    thread = "\n".join(_text(m) for m in replies[1:])
    assert "Deployment/billing" in thread and "Service/billing" in thread
    assert sum("sync · billing-dev" in _text(m) for m in argo.driver.messages(OPS_CHANNEL)) == 1
    assert "Healthy" in _text(parent)
    operation = _apps(sandbox)["billing-dev"]["status"]["operationState"]["operation"]
    assert operation["initiatedBy"] == {"username": "dev@example.com", "automated": False}
    assert operation["sync"]["revision"] == "v3.2.0"
    history = _text(argo.command(DEV, "history billing-dev"))
    assert "*1* _(current)_" in history and "dev@example.com" in history
    row = next(r for r in argo.audit.recent(actor_id=DEV, limit=5) if r.command == "sync")
    assert (row.decision, row.result, row.object) == ("allow", "ok", "dev/payments/billing-dev")


def test_a_second_sync_while_one_runs_is_refused(argo: World, sandbox: SandboxWorld) -> None:
    assert sandbox.app_controller is not None
    sandbox.app_controller.script_app(
        "slow-dev",
        resources=[
            AppResource(kind="Deployment", name="slow", api_version="apps/v1", progressing_seconds=100)
        ],
    )
    app = {
        "apiVersion": f"{G}/{V}",
        "kind": "Application",
        "metadata": {"name": "slow-dev", "namespace": ARGOCD_NAMESPACE},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://git.example.com/platform/deploy.git", "path": "apps/slow"},
            "destination": {"name": "dev", "namespace": "slow"},
        },
    }
    sandbox.kube["dev"].store.create(G, V, "applications", ARGOCD_NAMESPACE, app)
    assert "requested" in _text(argo.command(DEV, "sync slow-dev"))
    _parent(argo, "slow-dev", phase="Running")
    refused = _text(argo.command(DEV, "sync slow-dev --prune"))
    assert "another operation is already in progress" in refused
    row = next(r for r in argo.audit.recent(actor_id=DEV, limit=5) if r.command == "sync")
    assert (row.decision, row.result) == ("allow", "refused")
    parent = _parent(argo, "slow-dev", phase="Succeeded")
    assert sum("sync · slow-dev" in _text(m) for m in argo.driver.messages(OPS_CHANNEL)) == 1
    _summary(argo, parent, contains="slow-dev: succeeded")


def test_a_prod_sync_from_an_unbound_channel_is_refused_naming_the_channel(
    argo: World, sandbox: SandboxWorld
) -> None:
    refused = _text(argo.command(OPS, "sync shop-prod"))
    assert f"<#{PROD_CHANNEL}>" in refused and "`prod`" in refused
    assert "operation" not in _apps(sandbox)["shop-prod"]
    row = argo.audit.recent(actor_id=OPS, limit=1)[0]
    assert (row.command, row.decision, row.result, row.object) == (
        "sync",
        "allow",
        "refused",
        "prod/shop/shop-prod",
    )


def test_a_sync_under_an_approval_rule_runs_only_once_someone_else_approves_it(
    argo: World, sandbox: SandboxWorld
) -> None:
    answer = _text(argo.command(OPS, "sync billing-prod", channel=PROD_CHANNEL))
    assert "syncs only after an approval" in answer and "prod/*/billing-*" in answer, answer
    card = _card(argo, "billing-prod", channel=PROD_CHANNEL)
    assert "Sync requested: billing-prod" in _text(card)
    assert "operation" not in _apps(sandbox)["billing-prod"]  # nothing written before the approval

    argo.driver.click(user=OPS, channel=PROD_CHANNEL, ts=card["ts"], action_id="approval_approve")
    wait_until(
        lambda: any("own" in _text(e) for e in argo.driver.ephemerals(user=OPS)),
        timeout=15,
        message="the requester's refusal",
    )
    argo.driver.click(user=ADMIN, channel=PROD_CHANNEL, ts=card["ts"], action_id="approval_approve")

    def written() -> dict[str, str] | None:
        state = (_apps(sandbox)["billing-prod"].get("status") or {}).get("operationState") or {}
        info = {i["name"]: i["value"] for i in (state.get("operation") or {}).get("info") or []}
        return info if "chatops-approved-by" in info else None

    info = wait_until(written, timeout=30, message="the approved sync to run")
    assert info["chatops-requested-by"] == f"carol (slack {OPS})"
    assert info["chatops-approved-by"] == "alice"
    wait_until(
        lambda: any("sync · billing-prod" in _text(m) for m in argo.driver.messages(PROD_CHANNEL)),
        timeout=30,
        message="the approved sync's thread",
    )


def _card(world: World, app: str, *, channel: str = OPS_CHANNEL) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        for message in world.driver.messages(channel):
            actions = [
                e.get("action_id") for b in message.get("blocks") or [] for e in b.get("elements") or []
            ]
            if app in _text(message) and "approval_approve" in actions:
                return message
        return None

    return wait_until(find, timeout=15, message=f"the approval card for {app}")


def test_a_rollback_runs_only_after_someone_else_approves_it(argo: World, sandbox: SandboxWorld) -> None:
    history = _apps(sandbox)["shop-dev"]["status"]["history"]
    current, target = history[-1], history[-2]
    answer = _text(argo.command(ADMIN, 'rollback shop-dev --reason "checkout errors after the deploy"'))
    assert "requested" in answer and str(target["id"]) in answer
    card = _card(argo, "shop-dev")
    assert "checkout errors after the deploy" in _text(card)

    # the requester may not approve their own request; a stranger may not approve at all
    argo.driver.click(user=ADMIN, channel=OPS_CHANNEL, ts=card["ts"], action_id="approval_approve")
    wait_until(
        lambda: any("own" in _text(e) for e in argo.driver.ephemerals(user=ADMIN)),
        timeout=15,
        message="the requester's refusal",
    )
    assert _apps(sandbox)["shop-dev"]["status"]["history"][-1]["id"] == current["id"]  # nothing ran

    argo.driver.click(user=OPS, channel=OPS_CHANNEL, ts=card["ts"], action_id="approval_approve")
    wait_until(
        lambda: (
            (last := _apps(sandbox)["shop-dev"]["status"]["history"][-1])["id"] > current["id"]
            and last["revision"] == target["revision"]
        ),
        timeout=30,
        message="the rollback to the earlier revision to be deployed",
    )
    decided = next(m for m in argo.driver.messages(OPS_CHANNEL) if m["ts"] == card["ts"])
    actions = [e.get("action_id") for b in decided.get("blocks") or [] for e in b.get("elements") or []]
    assert "approval_approve" not in actions and "approval_reject" not in actions
    approved = [r for r in argo.audit.recent(actor_id=OPS) if r.command == "approve"]
    assert approved and approved[0].result == "ok" and approved[0].run_id
    assert approved[0].object.endswith("/shop-dev") and approved[0].resource == "approvals"
    assert any(r.command == "approve" and r.decision == "deny" for r in argo.audit.recent(actor_id=ADMIN))
