"""Argo Rollouts verbs through the pipeline and Slack, against the sandbox's Rollouts controller.

Each test makes its own canary on `dev` (namespace `web`): revision 1, then a new image that
the stand-in controller takes to its `pause: {}` at step 2 of 5, weight 20, as Argo Rollouts
would. The verbs write what `kubectl argo rollouts` writes; the tests read the Rollout back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commands_world import Tier
from e2e_world import ADMIN, BASE_POLICY, DEV, OPS, STRANGER, running_bot
from e2e_world import message_text as _text
from kubernetes import client
from rollouts_world import NS, paused_canary
from rollouts_world import status as _status
from rollouts_world import until as _until

from bot.sandbox.argo.samples import CHECKOUT_STEPS
from bot.sandbox.world import SandboxWorld
from bot.store.repos import RunRepo

#: Developers read, promote and abort on dev; the sre group (OPS) may only read.
POLICY = BASE_POLICY + (
    "p, role:developer, rollouts, get, dev/*, allow\n"
    "p, role:developer, rollouts, promote, dev/*, allow\n"
    "p, role:developer, rollouts, abort, dev/*, allow\n"
    "p, role:sre, rollouts, get, */*/*, allow\n"
)


@pytest.fixture
def rollout_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    with running_bot(tmp_path, sandbox, policy=POLICY) as world:
        yield Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))


def _api(tier: Tier) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(tier.world.bot.registry.api_client("dev"))


def _weight(status: dict[str, Any]) -> Any:
    return status.get("canary", {}).get("weights", {}).get("canary", {}).get("weight")


def test_rollouts_in_slack_show_step_weight_and_phase(rollout_tier: Tier) -> None:
    name = _paused_canary(rollout_tier)

    answer = _text(rollout_tier.world.command(DEV, f"rollouts --namespace {NS}"))

    line = next(line for line in answer.splitlines() if f"`{name}`" in line)
    assert "step 2/5" in line and "weight 20%" in line and "Paused" in line and "CanaryPauseStep" in line
    detail = _text(rollout_tier.world.command(DEV, f"rollout {name}"))
    assert ":arrow_right: 2. pause (until promoted)" in detail
    assert "setWeight: 20" in detail and "analysis: success-rate" in detail and "`web:1.1`" in detail


def test_promote_moves_a_paused_canary_to_its_next_steps(rollout_tier: Tier) -> None:
    name = _paused_canary(rollout_tier)

    reply = rollout_tier.do(DEV, f"promote {name}")

    assert f"promoted `{name}` on `dev/{NS}`: the pause at step 2/5 ended" in reply.text
    moved = _until(rollout_tier, name, "past step 2", lambda s: (s.get("currentStepIndex") or 0) >= 2)
    assert _weight(moved) == 50 and not moved.get("abort")
    audit = rollout_tier.last_audit(DEV)
    assert (audit.command, audit.resource, audit.action) == ("promote", "rollouts", "promote")
    assert (audit.object, audit.decision, audit.result) == (f"dev/{NS}/{name}", "allow", "ok")


def test_abort_sends_traffic_back_and_the_detail_says_aborted(rollout_tier: Tier) -> None:
    name = _paused_canary(rollout_tier)

    reply = rollout_tier.do(DEV, f"abort {name}")

    assert f"aborted `{name}`" in reply.text and "canary weight 0" in reply.text
    aborted = _until(rollout_tier, name, "aborted", lambda s: s.get("phase") == "Degraded")
    assert _weight(aborted) == 0
    detail = rollout_tier.do(DEV, f"rollout {name}")
    assert "Degraded" in detail.text and "RolloutAborted" in detail.text
    assert ("Weight", "0%") in detail.fields


def test_without_the_permission_promote_is_refused_naming_it_and_nothing_changes(rollout_tier: Tier) -> None:
    name = _paused_canary(rollout_tier)
    before = _status(rollout_tier, name)

    refused = rollout_tier.do(OPS, f"promote {name}")

    assert "rollouts, promote" in refused.text
    assert _status(rollout_tier, name) == before
    audit = rollout_tier.last_audit(OPS)
    assert (audit.action, audit.decision, audit.result) == ("promote", "deny", "refused")
    stranger = rollout_tier.do(STRANGER, f"abort {name}")
    assert "rollouts, abort" in stranger.text
    assert _status(rollout_tier, name) == before


def test_a_bad_name_gets_a_clear_answer(rollout_tier: Tier) -> None:
    missing = rollout_tier.do(DEV, "promote no-such-canary")
    assert "There is no Rollout `no-such-canary` on `dev`" in missing.text
    assert "`rollouts` lists the ones you may see" in missing.text
    malformed = rollout_tier.do(DEV, "abort Not_A_Name")
    assert "Not_A_Name" in malformed.text and "rollout" in malformed.text.lower()


def test_full_promotion_then_undo_then_abort_and_retry(rollout_tier: Tier) -> None:
    name = _paused_canary(rollout_tier)

    full = rollout_tier.do(ADMIN, f"promote {name} --full")
    assert "fully" in full.text
    _until(rollout_tier, name, "healthy at revision 2", lambda s: s.get("phase") == "Healthy")

    back = rollout_tier.do(ADMIN, f"undo {name}")
    assert "revision 1" in back.text
    canary = _until(
        rollout_tier, name, "revision 1's template in its canary", lambda s: s.get("phase") == "Paused"
    )
    assert canary["currentStepIndex"] == 1
    shown = rollout_tier.do(ADMIN, f"rollout {name}")
    assert ("Revision", "3") in shown.fields and "`web:1.0`" in dict(shown.fields)["Image"]

    rollout_tier.do(ADMIN, f"abort {name}")
    _until(rollout_tier, name, "aborted", lambda s: s.get("phase") == "Degraded")
    retried = rollout_tier.do(ADMIN, f"retry-rollout {name}")
    assert "starts again" in retried.text
    _until(rollout_tier, name, "paused again", lambda s: s.get("phase") == "Paused" and not s.get("abort"))
    unknown = rollout_tier.do(ADMIN, f"undo {name} 9")
    # as in Argo, the template of revision 1 came back as revision 3: its ReplicaSet was renumbered
    assert f"`{name}` has no revision 9. Its revisions: 2, 3." in unknown.text


def _paused_canary(tier: Tier, steps: list[dict[str, Any]] = CHECKOUT_STEPS) -> str:
    return paused_canary(tier, "canary", steps)
