"""A Workflow's approval step, decided on a card in its run's thread.

The `release` WorkflowTemplate waits at its suspend step `approve`, and asks (through
`spec.workflowMetadata`) for that step to be announced. A developer runs it; the card appears
in the run's thread; the developer may not approve it; an SRE with `workflows, approve` does,
and the Workflow goes on to Succeeded with the approver written on it; Reject stops it instead.
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

from bot.render.approvals import ACTION_APPROVE, ACTION_REJECT
from bot.sandbox.world import SandboxWorld

POLICY = ARGO_POLICY + "p, role:sre, workflows, approve, dev/*, allow\n"


@pytest.fixture
def steps_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    with argo_world(tmp_path, sandbox, policy=POLICY) as tier:
        yield tier


def _release(tier: Tier) -> tuple[str, dict[str, Any]]:
    """Run `release` as the developer; its run and, once it waits, the card in its thread."""
    reply = tier.do(DEV, "run release -p version=v2.0.0 --cluster dev")
    assert "release" in reply.text, reply.text
    run = next(r for r in tier.runs.recent(kind="workflow", limit=10) if r.template == "release")

    def card() -> dict[str, Any] | None:
        parent = tier.runs.get(run.id)
        if parent is None or parent.parent_ts is None:
            return None
        for message in tier.world.driver.replies(OPS_CHANNEL, parent.parent_ts)[1:]:
            if "Approval needed: step approve" in _text(message):
                return message
        return None

    found: dict[str, Any] = tier.wait(card, message="the approval card in the run's thread")
    return run.id, found


def _approval_id(card: dict[str, Any]) -> str:
    for block in card.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("action_id") == ACTION_APPROVE:
                return str(element["value"])
    raise AssertionError(f"no Approve button in {card}")


def _workflow(tier: Tier, run_id: str) -> dict[str, Any]:
    run = tier.runs.get(run_id)
    assert run is not None and run.name
    api = client.CustomObjectsApi(tier.world.bot.registry.api_client("dev"))
    found: dict[str, Any] = api.get_namespaced_custom_object(GROUP, VERSION, "argo", "workflows", run.name)
    return found


def test_an_approval_step_waits_for_its_card_and_goes_on_once_approved(steps_tier: Tier) -> None:
    tier = steps_tier
    run_id, card = _release(tier)
    approval_id = _approval_id(card)
    assert "needs `workflows, approve` on `dev/argo/release`" in _text(card)

    refused = tier.click(DEV, ACTION_APPROVE, approval_id)
    assert "workflows, approve" in refused.text, refused.text
    assert _workflow(tier, run_id)["status"]["phase"] == "Running"  # still waiting

    approved = tier.click(OPS, ACTION_APPROVE, approval_id)
    assert "it goes on now" in approved.text, approved.text
    tier.wait(
        lambda: (run := tier.runs.get(run_id)) is not None and run.final_posted,
        message="the run's final summary",
    )
    workflow = _workflow(tier, run_id)
    assert workflow["status"]["phase"] == "Succeeded"
    assert workflow["metadata"]["annotations"]["argo-chatops/approved-by.approve"].startswith(
        "carol@example.com"
    )
    parent = tier.runs.get(run_id)
    assert parent is not None and parent.parent_ts is not None
    thread = [_text(m) for m in tier.world.driver.replies(OPS_CHANNEL, parent.parent_ts)]
    assert any(f"Approved by <@{OPS}>" in text and "went on past this step" in text for text in thread), (
        thread
    )
    assert sum("Approval needed: step approve" in text for text in thread) <= 1  # one card, edited


def test_rejecting_the_step_stops_the_workflow(steps_tier: Tier) -> None:
    tier = steps_tier
    run_id, card = _release(tier)
    rejected = tier.click(OPS, ACTION_REJECT, _approval_id(card))
    assert "the workflow stops" in rejected.text, rejected.text
    tier.wait(
        lambda: (run := tier.runs.get(run_id)) is not None and run.final_posted,
        message="the stopped run's summary",
    )
    run = tier.runs.get(run_id)
    assert run is not None and run.phase == "Stopped"


def test_approve_and_reject_can_be_typed_with_the_workflow_name(steps_tier: Tier) -> None:
    tier = steps_tier
    run_id, _ = _release(tier)
    run = tier.runs.get(run_id)
    assert run is not None and run.name
    nothing = tier.do(OPS, "approve no-such-workflow")
    assert "No step of `no-such-workflow` waits for an approval" in nothing.text, nothing.text
    refused = tier.do(DEV, f"approve {run.name}")
    assert "workflows, approve" in refused.text, refused.text

    approved = tier.do(OPS, f"approve {run.name}")
    assert "it goes on now" in approved.text, approved.text
    tier.wait(
        lambda: (done := tier.runs.get(run_id)) is not None and done.final_posted,
        message="the run's final summary",
    )
    assert _workflow(tier, run_id)["status"]["phase"] == "Succeeded"
    again = tier.do(OPS, f"approve {run.name}")
    assert "No step of" in again.text, again.text
