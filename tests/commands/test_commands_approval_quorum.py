"""Rollbacks and syncs under a two-approver rule: each click counted once, the last needed one executes once.

The rule (`approvals.require_for`) asks two approvals from `role:sre` for rollbacks on dev. The
developer asks; the requester and an admin outside the role are refused; the first SRE's click
is counted and shown on the card; the second runs the rollback, once, also when the last two
clicks race; the Application's `operation.info` names who asked and who approved.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from commands_world import ARGO_POLICY, Tier, argo_world
from e2e_world import ADMIN, DEV, OPS, OPS_CHANNEL
from e2e_world import message_text as _text

from bot.model import Reply
from bot.records import APPROVAL_EXECUTED, Approval
from bot.render.approvals import ACTION_APPROVE
from bot.sandbox.world import SandboxWorld
from bot.store.repos import ApprovalRepo

APP = "shop-dev"
ERIN = "UERIN0001"  # a second SRE
RULE = {
    "resource": "applications",
    "action": "rollback",
    "object": "dev/*",
    "approvals": 2,
    "approvers": ["role:sre"],
}
SYNC_RULE = {**RULE, "action": "sync", "object": "dev/*/billing-*"}


@pytest.fixture
def quorum_tier(tmp_path: Path, sandbox: SandboxWorld) -> Iterator[Tier]:
    policy = ARGO_POLICY + "g, slack:UERIN0001, role:sre\n"
    with argo_world(tmp_path, sandbox, policy=policy, approvals={"require_for": [RULE, SYNC_RULE]}) as tier:
        tier.world.driver.add_user(ERIN, name="erin", email="erin@example.com")
        yield tier


def _history(tier: Tier) -> list[dict[str, Any]]:
    return list(tier.app(APP)["status"]["history"])


def _request(tier: Tier) -> Approval:
    reply = tier.do(DEV, f"rollback {APP}")
    assert "requested" in reply.text, reply.text
    (approval,) = [a for a in ApprovalRepo(tier.world.bot.database).pending() if a.app == APP]
    return approval


def _card(tier: Tier, approval: Approval) -> str:
    for message in tier.world.driver.messages(OPS_CHANNEL):
        if approval.id in str(message.get("blocks")):
            return _text(message)
    return ""


def _done(tier: Tier, approval: Approval) -> Approval:
    found = ApprovalRepo(tier.world.bot.database).get(approval.id)
    assert found is not None
    return found


def test_two_approvals_from_the_role_are_needed_and_each_click_counts_once(quorum_tier: Tier) -> None:
    tier = quorum_tier
    before = _history(tier)
    approval = _request(tier)
    tier.wait(lambda: "0 of 2 approvals" in _card(tier, approval), message="the card with its quorum")
    assert "1 more" not in _card(tier, approval) and "2 more needed, from `role:sre`" in _card(tier, approval)

    own = tier.click(DEV, ACTION_APPROVE, approval.id)
    assert "approvals, approve" in own.text, own.text  # the requester may not approve at all here
    outside = tier.click(ADMIN, ACTION_APPROVE, approval.id)
    assert "needs approvals from `role:sre`, and you are not among them" in outside.text, outside.text

    first = tier.click(OPS, ACTION_APPROVE, approval.id)
    assert f"Your approval is recorded: 1 of 2 approvals (<@{OPS}>); 1 more needed" in first.text, first.text
    again = tier.click(OPS, ACTION_APPROVE, approval.id)
    assert "You already approved this request" in again.text, again.text
    tier.wait(lambda: "1 of 2 approvals" in _card(tier, approval), message="the card showing one approval")
    assert "operation" not in tier.app(APP) and _history(tier) == before  # nothing written yet
    repeated, counted = tier.world.audit.recent(actor_id=OPS, limit=2)
    assert (counted.command, counted.decision, counted.result) == ("approve", "allow", "ok"), counted
    assert (repeated.decision, repeated.result) == ("deny", "refused"), repeated

    second = tier.click(ERIN, ACTION_APPROVE, approval.id)
    assert second.text.startswith(":white_check_mark:"), second.text
    tier.wait(lambda: len(_history(tier)) == len(before) + 1, message="the rollback in the app's history")
    done = _done(tier, approval)
    assert done.status == APPROVAL_EXECUTED and [v.user_id for v in done.votes] == [OPS, ERIN]
    info = {i["name"]: i["value"] for i in tier.app(APP)["status"]["operationState"]["operation"]["info"]}
    assert info["chatops-requested-by"] == f"bob (slack {DEV})"
    assert info["chatops-approved-by"] == "carol, erin"
    tier.wait(lambda: f"<@{OPS}> and <@{ERIN}>" in _card(tier, approval), message="the card naming both")


def test_when_the_last_two_clicks_race_the_rollback_runs_once(quorum_tier: Tier) -> None:
    tier = quorum_tier
    before = _history(tier)
    approval = _request(tier)
    answers: dict[str, Reply] = {}
    start = threading.Barrier(2)

    def click(user: str) -> None:
        start.wait(timeout=10)
        answers[user] = tier.click(user, ACTION_APPROVE, approval.id)

    threads = [threading.Thread(target=click, args=(user,)) for user in (OPS, ERIN)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    started = [user for user, reply in answers.items() if reply.text.startswith(":white_check_mark:")]
    assert len(answers) == 2 and len(started) == 1, {u: r.text for u, r in answers.items()}
    tier.wait(lambda: len(_history(tier)) == len(before) + 1, message="the one rollback")
    done = _done(tier, approval)
    assert done.status == APPROVAL_EXECUTED and len(done.votes) == 2
    runs = [r for r in tier.runs.recent(kind="rollback", limit=20) if r.id == done.run_id]
    assert len(runs) == 1


def test_a_sync_under_a_two_approver_rule_runs_once_the_second_approves(quorum_tier: Tier) -> None:
    tier = quorum_tier
    reply = tier.do(DEV, "sync billing-dev --prune")
    assert "syncs only after 2 approvals" in reply.text, reply.text
    (approval,) = [a for a in ApprovalRepo(tier.world.bot.database).pending() if a.app == "billing-dev"]
    tier.wait(lambda: "With prune" in _card(tier, approval), message="the sync's card")
    assert "operation" not in tier.app("billing-dev")

    assert "not among them" in tier.click(ADMIN, ACTION_APPROVE, approval.id).text
    assert "1 of 2 approvals" in tier.click(OPS, ACTION_APPROVE, approval.id).text
    assert "operation" not in tier.app("billing-dev")  # one approval does nothing

    assert tier.click(ERIN, ACTION_APPROVE, approval.id).text.startswith(":white_check_mark:")

    def info() -> dict[str, str] | None:
        state = (tier.app("billing-dev").get("status") or {}).get("operationState") or {}
        operation = state.get("operation") or {}
        found = {i["name"]: i["value"] for i in operation.get("info") or []}
        return found if "chatops-approved-by" in found and operation["sync"].get("prune") else None

    shown = tier.wait(info, message="the approved sync, with prune, written once")
    assert shown["chatops-approved-by"] == "carol, erin"
    assert shown["chatops-requested-by"] == f"bob (slack {DEV})"
    done = _done(tier, approval)
    assert done.status == APPROVAL_EXECUTED and done.run_id is not None
    run = tier.runs.get(done.run_id)
    assert run is not None and run.kind == "sync"
