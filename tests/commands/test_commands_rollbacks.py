"""Rollbacks through the pipeline: the card, the approval, what was shown is what runs, crashes in between.

Each test asks for a rollback of `shop-dev` (seeded with a deploy history) as a developer and
decides it as a member of the sre group; the Application in the stand-in says what was written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from commands_world import Tier
from e2e_world import DEV, OPS, OPS_CHANNEL

from bot.actions.sweeps import ApprovalCompletion
from bot.approvals.service import ApprovalService
from bot.approvals.sweeper import ExpirySweeper
from bot.argo import cd
from bot.model import Actor
from bot.records import APPROVAL_APPROVED, APPROVAL_EXECUTED, APPROVAL_FAILED, RUN_ROLLBACK, Approval
from bot.render.approvals import ACTION_APPROVE
from bot.sandbox.world import ARGOCD_NAMESPACE
from bot.store.repos import ApprovalRepo
from bot.tracking import sync_tracker

APP = "shop-dev"
G, V = "argoproj.io", "v1alpha1"


def _history(tier: Tier) -> list[dict[str, Any]]:
    return list(tier.app(APP)["status"]["history"])


def _request(tier: Tier) -> Approval:
    reply = tier.do(DEV, f'rollback {APP} --reason "5xx after the deploy"')
    assert "requested" in reply.text, reply.text
    (approval,) = [a for a in ApprovalRepo(tier.world.bot.database).pending() if a.app == APP]
    return approval


def _card_in_channel(tier: Tier, approval: Approval) -> dict[str, Any]:
    def card() -> dict[str, Any] | None:
        for message in tier.world.driver.messages(OPS_CHANNEL):
            for block in message.get("blocks") or []:
                for element in block.get("elements") or []:
                    if element.get("value") == approval.id:
                        return dict(message)
        return None

    found: dict[str, Any] = tier.wait(card, message="the approval card, delivered through the outbox")
    return found


def _approvals(tier: Tier) -> ApprovalRepo:
    return ApprovalRepo(tier.world.bot.database)


def _sweep_later(tier: Tier) -> None:
    """What the leader's sweep does two minutes after a click whose worker died."""
    later = datetime.now(UTC) + timedelta(minutes=2)
    service = ApprovalService(
        repo=_approvals(tier), settings=tier.world.settings.approvals, clock=lambda: later
    )
    assert tier.deps.directory is not None and tier.deps.cards is not None
    completion = ApprovalCompletion(deps=tier.deps, directory=tier.deps.directory)
    ExpirySweeper(service, tier.deps.cards, completer=completion).sweep()


def _approved_without_acting(tier: Tier, approval: Approval) -> None:
    """The click was recorded, then the process died before anything else."""
    assert _approvals(tier).decide(
        approval.id, new_status=APPROVAL_APPROVED, decided_by=OPS, now=datetime.now(UTC)
    )


def test_approval_runs_the_revision_the_card_showed_and_is_audited(argo_tier: Tier) -> None:
    tier = argo_tier
    before = _history(tier)
    approval = _request(tier)
    card = _card_in_channel(tier, approval)
    assert "5xx after the deploy" in str(card)
    assert approval.to_revision == before[-2]["revision"]

    refused = tier.click(DEV, ACTION_APPROVE, approval.id)
    assert "approvals, approve" in refused.text  # the requester may not approve at all here
    reply = tier.click(OPS, ACTION_APPROVE, approval.id)

    assert reply.text.startswith(":white_check_mark:"), reply.text
    tier.wait(lambda: len(_history(tier)) == len(before) + 1, message="the rollback in the app's history")
    assert _history(tier)[-1]["revision"] == approval.to_revision
    done = _approvals(tier).get(approval.id)
    assert done is not None and done.status == APPROVAL_EXECUTED and done.run_id is not None
    run = tier.runs.get(done.run_id)
    assert run is not None and run.kind == RUN_ROLLBACK
    audit = tier.last_audit(OPS)
    assert (audit.command, audit.resource, audit.object) == ("approve", "approvals", f"dev/shop/{APP}")
    assert audit.run_id == done.run_id
    parent = tier.wait(
        lambda: next(
            (m for m in tier.world.driver.messages(OPS_CHANNEL) if f"rollback · {APP}" in str(m)), None
        ),
        message="the rollback's parent message",
    )
    shown = str(parent.get("blocks"))
    assert "Approved by" in shown and f"<@{OPS}>" in shown  # who approved it
    assert approval.to_revision[:7] in shown  # the revision it goes back to


def test_history_rewritten_after_the_request_is_refused_and_nothing_is_written(argo_tier: Tier) -> None:
    tier = argo_tier
    approval = _request(tier)
    card = _card_in_channel(tier, approval)
    history = _history(tier)
    _, to_id = approval.target.split("->")
    rewritten = [dict(e, revision="f" * 40) if str(e["id"]) == to_id else e for e in history]
    tier.sandbox.kube["dev"].store.patch_status(
        G, V, "applications", ARGOCD_NAMESPACE, APP, {"history": rewritten}
    )

    reply = tier.click(OPS, ACTION_APPROVE, approval.id)

    assert "did not run" in reply.text and "now deploys" in reply.text, reply.text
    assert "operation" not in tier.app(APP)
    assert len(_history(tier)) == len(history)
    failed = _approvals(tier).get(approval.id)
    assert failed is not None and failed.status == APPROVAL_FAILED
    assert all(run.kind != RUN_ROLLBACK for run in tier.runs.unfinished())
    tier.wait(
        lambda: any(
            f"<@{DEV}>" in (m.get("text") or "") and "did not run" in (m.get("text") or "")
            for m in tier.world.driver.replies(OPS_CHANNEL, card["ts"])
        ),
        message="the requester told in the card's thread",
    )


def test_a_crash_between_approval_and_write_is_completed_once_by_the_sweep(argo_tier: Tier) -> None:
    tier = argo_tier
    before = _history(tier)
    approval = _request(tier)
    _approved_without_acting(tier, approval)

    _sweep_later(tier)
    _sweep_later(tier)  # a second sweep finds nothing left to do

    tier.wait(lambda: len(_history(tier)) == len(before) + 1, message="the rollback in the app's history")
    tier.wait(lambda: "operation" not in tier.app(APP), message="the rollback to finish")
    assert len(_history(tier)) == len(before) + 1
    done = _approvals(tier).get(approval.id)
    assert done is not None and done.status == APPROVAL_EXECUTED
    audit = tier.last_audit(OPS)
    assert (audit.command, audit.result) == ("complete-approval", "ok")


def test_a_crash_after_the_write_is_recognised_by_its_marker_and_not_written_again(argo_tier: Tier) -> None:
    tier = argo_tier
    before = _history(tier)
    approval = _request(tier)
    _approved_without_acting(tier, approval)
    # the worker recorded the run and wrote the rollback, then died before saying so
    run = tier.runs.create(
        kind=RUN_ROLLBACK,
        cluster="dev",
        namespace=ARGOCD_NAMESPACE,
        requester_id=DEV,
        channel_id=OPS_CHANNEL,
        now=datetime.now(UTC),
        template=APP,
        parameters={sync_tracker.DESTINATION_PARAMETER: "dev"},
    )
    _approvals(tier).set_run(approval.id, run_id=run.id)
    assert tier.deps.clusters is not None
    _, to_id = approval.target.split("->")
    cd.request_rollback(
        tier.deps.clusters.api_client("dev"),
        namespace=ARGOCD_NAMESPACE,
        name=APP,
        history_id=int(to_id),
        username="dev",
        info=sync_tracker.operation_info(run.id),
    )

    _sweep_later(tier)

    tier.wait(lambda: len(_history(tier)) == len(before) + 1, message="the one rollback in the history")
    tier.wait(lambda: "operation" not in tier.app(APP), message="the rollback to finish")
    assert len(_history(tier)) == len(before) + 1
    done = _approvals(tier).get(approval.id)
    assert done is not None and done.status == APPROVAL_EXECUTED and done.run_id == run.id
    tier.wait(lambda: (r := tier.runs.get(run.id)) is not None and r.final_posted, message="the run followed")


def test_the_requesters_permission_is_checked_again_at_decision_time(argo_tier: Tier) -> None:
    tier = argo_tier
    approval = _request(tier)
    policy = tier.world.policy_file
    policy.write_text(
        policy.read_text().replace("p, role:developer, applications, rollback, dev/*, allow\n", ""), "utf-8"
    )
    tier.wait(
        lambda: (
            not tier.deps.policy.current().can(
                Actor(user_id=DEV, name="bob", email="dev@example.com").subjects,
                resource="applications",
                action="rollback",
                obj=f"dev/default/{APP}",
            )
        ),
        message="the policy file reloaded",
    )
    before = _history(tier)

    reply = tier.click(OPS, ACTION_APPROVE, approval.id)

    assert "may no longer roll back" in reply.text, reply.text
    assert len(_history(tier)) == len(before)
    failed = _approvals(tier).get(approval.id)
    assert failed is not None and failed.status == APPROVAL_FAILED
