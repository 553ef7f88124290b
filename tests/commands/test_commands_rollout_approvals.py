"""Rollout commands behind approval rules: `abort` on dev needs an approval, the card's Approve
aborts the canary once, as the requester's; a step promote stays unguarded.

A canary of its own on `dev` (namespace `web`), paused at step 2 of 5 with weight 20.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commands_world import Tier
from e2e_world import BASE_POLICY, DEV, OPS, OPS_CHANNEL, running_bot
from e2e_world import message_text as _text
from rollouts_world import paused_canary
from rollouts_world import status as _status
from rollouts_world import until as _until

from bot.records import APPROVAL_EXECUTED
from bot.render.approvals import ACTION_APPROVE
from bot.sandbox.argo.samples import CHECKOUT_STEPS
from bot.sandbox.world import SandboxWorld
from bot.store.repos import ApprovalRepo, RunRepo

POLICY = BASE_POLICY + (
    "p, role:developer, rollouts, get, dev/*, allow\n"
    "p, role:developer, rollouts, promote, dev/*, allow\n"
    "p, role:developer, rollouts, abort, dev/*, allow\n"
    "p, role:sre, approvals, approve, */*/*, allow\n"
)
RULE = {"resource": "rollouts", "action": "abort", "object": "dev/*"}


@pytest.fixture
def guarded_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    with running_bot(tmp_path, sandbox, policy=POLICY, approvals={"require_for": [RULE]}) as world:
        yield Tier(world=world, sandbox=sandbox, deps=world.bot.deps, runs=RunRepo(world.bot.database))


def test_an_abort_under_a_rule_waits_for_its_approval_and_then_aborts_once(guarded_tier: Tier) -> None:
    tier = guarded_tier
    name = _paused_canary(tier)
    reply = tier.do(DEV, f"abort {name} --cluster dev")
    assert "runs only after an approval" in reply.text and "rollouts, abort, dev/*" in reply.text, reply.text
    (approval,) = [a for a in ApprovalRepo(tier.world.bot.database).pending() if a.app == name]
    tier.wait(
        lambda: any(
            approval.id in str(m.get("blocks")) and "abort" in _text(m)
            for m in tier.world.driver.messages(OPS_CHANNEL)
        ),
        message="the abort's approval card",
    )
    assert not _status(tier, name).get("abort")  # nothing written before the approval

    approved = tier.click(OPS, ACTION_APPROVE, approval.id)
    assert approved.text.startswith(":white_check_mark:"), approved.text
    _until(tier, name, "aborted", lambda s: s.get("abort") is True)
    done = ApprovalRepo(tier.world.bot.database).get(approval.id)
    assert done is not None and done.status == APPROVAL_EXECUTED and done.run_id is not None
    run = tier.runs.get(done.run_id)
    assert run is not None and run.requester_id == DEV and run.kind == "rollout"


def test_a_step_promote_is_not_guarded_by_a_rule_on_abort(guarded_tier: Tier) -> None:
    tier = guarded_tier
    name = _paused_canary(tier)
    reply = tier.do(DEV, f"promote {name} --cluster dev")
    assert "promoted" in reply.text, reply.text
    _until(tier, name, "past step 2", lambda s: int(s.get("currentStepIndex") or 0) >= 2)


def _paused_canary(tier: Tier, steps: list[dict[str, Any]] = CHECKOUT_STEPS) -> str:
    return paused_canary(tier, "guarded", steps)
