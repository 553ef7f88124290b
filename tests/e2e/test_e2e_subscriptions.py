"""A subscribed channel's thread for a sync started outside the bot survives a SIGKILL.

The operation is written on the Application with the kubernetes client, as the Argo CD UI
does; `chatops run` (its own process, SQLite) follows it in the subscribed channel, is
SIGKILLed while the sync runs (its thread already has a reply) and started again: the same thread goes on, one
parent, one final, no reply twice. The processes and helpers come from `test_e2e_failover`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from e2e_world import DEV, OPS_CHANNEL, TOKEN_ENV
from kubernetes import client
from test_e2e_failover import SYNC_POLICY, _bot, _one_parent_one_final, _sqlite_url, bots
from test_e2e_outbox_crash import Bot, _text

from bot.sandbox.argo.appscript import AppResource
from bot.sandbox.slack import SlackDriver
from bot.sandbox.waiting import wait_until
from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld

__all__ = ["bots"]  # the fixture, shared with the fail-over tests

G, V = "argoproj.io", "v1alpha1"


def _kubernetes(sandbox: SandboxWorld, cluster: str) -> client.CustomObjectsApi:
    """A kubernetes client of our own, as a person at a terminal (or the Argo CD UI) has one."""
    configuration = client.Configuration()
    configuration.host = sandbox.clusters[cluster]["api_url"]
    configuration.api_key = {"authorization": f"Bearer {sandbox.clusters[cluster]['token']}"}
    return client.CustomObjectsApi(client.ApiClient(configuration))


def test_an_outside_sync_followed_for_a_subscription_survives_a_sigkill_with_one_final(
    tmp_path: Path, sandbox: SandboxWorld, bots: list[Bot]
) -> None:
    assert sandbox.app_controller is not None
    sandbox.app_controller.script_app(
        "billing-dev",
        resources=[
            AppResource(
                kind="Job",
                name="billing-migrate",
                api_version="batch/v1",
                hook="PreSync",
                progressing_seconds=200,
            ),
            AppResource(kind="Deployment", name="billing", api_version="apps/v1", progressing_seconds=200),
        ],
    )
    driver = SlackDriver(sandbox.slack.control_url)
    auth = {"kind": "token", "server": sandbox.clusters["dev"]["api_url"], "token_env": TOKEN_ENV["dev"]}
    bot = _bot(
        tmp_path,
        sandbox,
        policy=SYNC_POLICY,
        clusters=[{"name": "dev", "auth": auth, "argocd_namespace": ARGOCD_NAMESPACE}],
        subscriptions=[
            {
                "channel": OPS_CHANNEL,
                "kind": "apps",
                "name": "billing-*",
                "owner": DEV,
                "triggers": ["sync-started", "sync-succeeded", "sync-failed"],
            }
        ],
    )
    bots.append(bot)
    bot.start()
    operation = {"sync": {"revision": "v3.4.0"}, "initiatedBy": {"username": "dev@example.com"}}
    _kubernetes(sandbox, "dev").patch_namespaced_custom_object(
        G, V, ARGOCD_NAMESPACE, "applications", "billing-dev", {"operation": operation}
    )
    marker = "sync · billing-dev"

    def hook_running() -> dict[str, Any] | None:
        for message in driver.messages(OPS_CHANNEL):
            replies = driver.replies(OPS_CHANNEL, message["ts"]) if marker in _text(message) else []
            if any("Job/billing-migrate" in _text(r) for r in replies[1:]):
                return message
        return None

    def where() -> str:
        app = next(
            a
            for a in sandbox.kube["dev"].store.list(G, V, "applications", ARGOCD_NAMESPACE)
            if a["metadata"]["name"] == "billing-dev"
        )
        state = (app.get("status") or {}).get("operationState") or {}
        shown = {k: state.get(k) for k in ("phase", "startedAt", "finishedAt", "message")}
        operation = app.get("operation")
        return f"the outside sync's parent and its hook's reply (operation {operation}, state {shown})"

    parent = wait_until(hook_running, timeout=30, message=where)
    fields = str(parent.get("blocks"))
    assert "Started by" in fields and "dev@example.com" in fields, fields
    bot.kill()
    still = next(m for m in driver.messages(OPS_CHANNEL) if m["ts"] == parent["ts"])
    assert "Succeeded" not in _text(still), "the sync ended before the kill"
    shown = len(driver.replies(OPS_CHANNEL, parent["ts"]))
    bot.start()

    replies = _one_parent_one_final(
        driver, marker=marker, summary="billing-dev: succeeded", url=_sqlite_url(tmp_path)
    )
    assert len(replies) + 1 > shown, "the thread went on after the restart"
