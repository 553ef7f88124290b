"""A rollback of an app with auto-sync on: the card says so, the app stays pinned, and the channel
is reminded until someone turns auto-sync on again with `autosync APP on`.

The config allows the rollback to turn auto-sync off (`disable_auto_sync_on_rollback`) and
reminds every few seconds (`pin_reminder_hours`) so the test sees a reminder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commands_world import ARGO_POLICY, GROUP, VERSION, Tier, argo_world
from e2e_world import DEV, OPS, OPS_CHANNEL
from e2e_world import message_text as _text
from kubernetes import client

from bot.argo import cd
from bot.render.approvals import ACTION_APPROVE
from bot.sandbox.world import ARGOCD_NAMESPACE, SandboxWorld
from bot.store.repos import ApprovalRepo

APP = "shop-dev"
POLICY = ARGO_POLICY + "p, role:developer, applications, update, dev/*, allow\n"


@pytest.fixture
def pin_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    approvals = {"disable_auto_sync_on_rollback": True, "pin_reminder_hours": 3 / 3600}
    with argo_world(tmp_path, sandbox, policy=POLICY, approvals=approvals) as tier:
        yield tier


def _api(tier: Tier) -> Any:
    return tier.world.bot.registry.api_client("dev")


def _with_auto_sync(tier: Tier) -> None:
    body = {"spec": {"syncPolicy": {"automated": {"prune": True, "selfHeal": True}}}}
    client.CustomObjectsApi(_api(tier)).patch_namespaced_custom_object(
        GROUP, VERSION, ARGOCD_NAMESPACE, "applications", APP, body
    )


def _channel_texts(tier: Tier) -> list[str]:
    return [_text(m) for m in tier.world.driver.messages(OPS_CHANNEL)]


def test_a_rollback_with_auto_sync_on_pins_the_app_reminds_and_autosync_on_restores_it(
    pin_tier: Tier,
) -> None:
    tier = pin_tier
    _with_auto_sync(tier)
    reply = tier.do(DEV, f"rollback {APP}")
    assert "requested" in reply.text, reply.text
    (approval,) = [a for a in ApprovalRepo(tier.world.bot.database).pending() if a.app == APP]
    tier.wait(
        lambda: any(
            approval.id in str(m.get("blocks")) and "Auto-sync is on" in _text(m)
            for m in tier.world.driver.messages(OPS_CHANNEL)
        ),
        message="the card saying the rollback turns auto-sync off",
    )

    assert tier.click(OPS, ACTION_APPROVE, approval.id).text.startswith(":white_check_mark:")
    app = tier.app(APP)
    assert "automated" not in app["spec"].get("syncPolicy", {})  # pinned: auto-sync is off
    assert cd.PIN_ANNOTATION in app["metadata"]["annotations"]

    done = ApprovalRepo(tier.world.bot.database).get(approval.id)
    assert done is not None and done.run_id is not None
    run_id = done.run_id

    def note() -> bool:
        run = tier.runs.get(run_id)
        if run is None or run.parent_ts is None:
            return False
        replies = tier.world.driver.replies(OPS_CHANNEL, run.parent_ts)
        return any("Auto-sync is off for `shop-dev`" in _text(m) for m in replies)

    tier.wait(note, message="the rollback thread saying the app is pinned")
    tier.wait(
        lambda: any("has been pinned since its rollback" in text for text in _channel_texts(tier)),
        message="a reminder in the channel",
    )

    on = tier.do(DEV, f"autosync {APP} on")
    assert "Auto-sync is on again" in on.text, on.text
    app = tier.app(APP)
    assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}  # as it was
    assert cd.PIN_ANNOTATION not in (app["metadata"].get("annotations") or {})
    assert cd.pinned_apps(_api(tier), namespace=ARGOCD_NAMESPACE) == []  # nothing left to remind of
    again = tier.do(DEV, f"autosync {APP} on")
    assert "already on" in again.text, again.text


def test_autosync_needs_update_on_the_app_and_takes_only_on_or_off(pin_tier: Tier) -> None:
    tier = pin_tier
    assert "neither `on` nor `off`" in tier.do(DEV, f"autosync {APP} maybe").text
    refused = tier.do(DEV, "autosync shop-prod off")
    assert "applications, update" in refused.text, refused.text
