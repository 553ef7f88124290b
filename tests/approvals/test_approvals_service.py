"""The approval service against a real migrated SQLite database: what requesters and approvers see."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from approvals_world import T0, Clock, ServiceFactory

from bot.applications import HistoryEntry
from bot.approvals import flow
from bot.approvals.service import ApprovalService, Decision, approver_check
from bot.errors import UserError
from bot.model import Actor
from bot.rbac import policy
from bot.rbac.enforcer import Enforcer
from bot.records import Approval

REQUESTER = Actor(user_id="U1", name="alice")
APPROVER = Actor(user_id="U2", name="bob")
OTHER_APPROVER = Actor(user_id="U3", name="carol")
CURRENT = HistoryEntry(
    id=42,
    revision="9f1c2ab0000000000000000000000000000000aa",
    deployed_at=T0,
    repo="https://git.example.com/payments.git",
    path="deploy",
    target_revision="main",
    initiated_by="automated",
)
TARGET = HistoryEntry(
    id=41,
    revision="1a2b3c4000000000000000000000000000000bb",
    deployed_at=T0 - timedelta(days=1),
    repo="https://git.example.com/payments.git",
    path="deploy",
    target_revision="main",
    initiated_by="alice",
)


def _request(service: ApprovalService, *, actor: Actor = REQUESTER) -> Approval:
    return service.request_rollback(
        actor=actor,
        channel_id="C1",
        cluster="prod-eu",
        project="payments",
        app="api",
        target=TARGET,
        current=CURRENT,
        reason="  5xx since the last deploy ",
    )


def _approve(service: ApprovalService, approval: Approval, clicker: Actor, *, can: bool = True) -> Decision:
    return service.decide(approval_id=approval.id, clicker=clicker, approve=True, can_approve=can)


def test_request_stores_what_the_card_shows_and_expires_after_the_setting(
    make_service: ServiceFactory,
) -> None:
    service = make_service(expiry_minutes=30)
    approval = _request(service)
    assert approval.status == "pending"
    assert (approval.app, approval.cluster, approval.project) == ("api", "prod-eu", "payments")
    assert (approval.from_revision, approval.to_revision) == (CURRENT.revision, TARGET.revision)
    assert flow.history_ids(approval) == (42, 41)
    assert approval.reason == "5xx since the last deploy"
    assert (approval.requester_id, approval.requester_name) == ("U1", "alice")
    assert approval.expires_at == T0 + timedelta(minutes=30)
    assert [pending.id for pending in service.pending()] == [approval.id]
    service.set_message(approval.id, message_ts="1700000000.000100")
    stored = service.get(approval.id)
    assert stored is not None and stored.message_ts == "1700000000.000100"


def test_rolling_back_to_the_entry_already_deployed_is_refused(make_service: ServiceFactory) -> None:
    service = make_service()
    with pytest.raises(UserError, match="nothing to roll back"):
        service.request_rollback(
            actor=REQUESTER,
            channel_id="C1",
            cluster="prod-eu",
            project="payments",
            app="api",
            target=CURRENT,
            current=CURRENT,
            reason="",
        )
    assert service.pending() == []


def test_someone_else_approves_and_the_rollback_is_recorded(make_service: ServiceFactory) -> None:
    service = make_service()
    approval = _request(service)
    decision = _approve(service, approval, APPROVER)
    assert decision.outcome == "approved"
    assert decision.approval is not None and decision.approval.status == "approved"
    assert decision.approval.decided_by == "U2" and decision.approval.decided_at == T0
    assert "You approved the rollback of `api`" in decision.message
    executed = service.mark_executed(approval.id, run_id="run-7")
    assert executed is not None and executed.status == "executed" and executed.run_id == "run-7"
    assert executed.decided_by == "U2"
    # the approval is closed: a late click is told who approved it
    late = _approve(service, approval, OTHER_APPROVER)
    assert late.outcome == "refused" and "already approved by <@U2>" in late.message
    assert service.pending() == []


def test_a_failed_rollback_is_recorded_once(make_service: ServiceFactory) -> None:
    service = make_service()
    approval = _request(service)
    assert _approve(service, approval, APPROVER).outcome == "approved"
    failed = service.mark_failed(approval.id, message="another operation is already in progress")
    assert failed is not None and failed.status == "failed"
    assert service.mark_executed(approval.id, run_id="run-8") is None
    assert service.mark_failed(approval.id, message="again") is None


def test_executing_a_request_nobody_approved_does_nothing(make_service: ServiceFactory) -> None:
    service = make_service()
    approval = _request(service)
    assert service.mark_executed(approval.id, run_id="run-9") is None
    stored = service.get(approval.id)
    assert stored is not None and stored.status == "pending" and stored.run_id is None


def test_the_requester_cannot_approve_their_own_request(make_service: ServiceFactory) -> None:
    service = make_service()
    approval = _request(service)
    decision = _approve(service, approval, REQUESTER)
    assert decision.outcome == "refused"
    assert "cannot approve your own request" in decision.message
    stored = service.get(approval.id)
    assert stored is not None and stored.status == "pending"


def test_self_approval_when_the_settings_allow_it(make_service: ServiceFactory) -> None:
    service = make_service(allow_self_approval=True)
    approval = _request(service)
    assert _approve(service, approval, REQUESTER).outcome == "approved"


def test_an_approver_without_permission_is_refused(make_service: ServiceFactory) -> None:
    service = make_service()
    approval = _request(service)
    decision = _approve(service, approval, APPROVER, can=False)
    assert decision.outcome == "refused"
    assert "needs `approvals, approve` on `prod-eu/payments/api`" in decision.message
    stored = service.get(approval.id)
    assert stored is not None and stored.status == "pending"


def test_permission_is_checked_on_the_stored_request_with_the_real_enforcer(
    make_service: ServiceFactory,
) -> None:
    rules = """
p, slack:U2, approvals, approve, prod-eu/payments/*, allow
p, slack:U3, approvals, approve, staging/*, allow
"""
    enforcer = Enforcer(policy.parse_policy(rules, source="test.csv"))
    service = make_service()
    approval = _request(service)
    refused = service.decide(
        approval_id=approval.id,
        clicker=OTHER_APPROVER,
        approve=True,
        can_approve=approver_check(enforcer, OTHER_APPROVER),
    )
    assert refused.outcome == "refused" and "You may not decide" in refused.message
    allowed = service.decide(
        approval_id=approval.id,
        clicker=APPROVER,
        approve=True,
        can_approve=approver_check(enforcer, APPROVER),
    )
    assert allowed.outcome == "approved"


def test_reject_closes_the_request(make_service: ServiceFactory) -> None:
    service = make_service()
    approval = _request(service)
    decision = service.decide(approval_id=approval.id, clicker=APPROVER, approve=False, can_approve=True)
    assert decision.outcome == "rejected" and "nothing was changed" in decision.message
    assert decision.approval is not None and decision.approval.status == "rejected"
    late = _approve(service, approval, OTHER_APPROVER)
    assert late.outcome == "refused" and "already rejected by <@U2>" in late.message


def test_the_requester_may_withdraw_without_approve_permission(make_service: ServiceFactory) -> None:
    service = make_service()
    approval = _request(service)
    decision = service.decide(approval_id=approval.id, clicker=REQUESTER, approve=False, can_approve=False)
    assert decision.outcome == "rejected"
    assert decision.approval is not None and decision.approval.decided_by == "U1"


def test_an_unknown_id_is_refused(make_service: ServiceFactory) -> None:
    decision = make_service().decide(approval_id="nope", clicker=APPROVER, approve=True, can_approve=True)
    assert decision == Decision(
        outcome="refused", approval=None, message="This approval request no longer exists."
    )


def test_expiry_refuses_late_clicks_and_the_sweep_closes_each_request_once(
    make_service: ServiceFactory, clock: Clock
) -> None:
    service = make_service(expiry_minutes=10)
    early = _request(service)
    clock.advance(timedelta(minutes=5))
    later = _request(service)
    clock.advance(timedelta(minutes=5))  # `early` is due now, `later` in five minutes
    late_click = _approve(service, early, APPROVER)
    assert late_click.outcome == "refused" and "expired" in late_click.message
    assert [approval.id for approval in service.pending()] == [later.id]
    closed = service.expire_due()
    assert [(approval.id, approval.status) for approval in closed] == [(early.id, "expired")]
    assert service.expire_due() == []
    again = _approve(service, early, APPROVER)
    assert again.outcome == "refused" and "expired" in again.message
    assert _approve(service, later, APPROVER).outcome == "approved"
    clock.advance(timedelta(hours=1))
    assert service.expire_due() == []  # decided requests never expire


def test_two_approvers_clicking_at_once_give_exactly_one_approval(make_service: ServiceFactory) -> None:
    service = make_service()
    approval = _request(service)
    clickers = [Actor(user_id=f"U{n}", name=f"approver{n}") for n in range(10, 16)]
    start = threading.Barrier(len(clickers))
    decisions: list[Decision] = []
    lock = threading.Lock()

    def click(clicker: Actor) -> None:
        start.wait(timeout=10)
        decision = _approve(service, approval, clicker)
        with lock:
            decisions.append(decision)

    threads = [threading.Thread(target=click, args=(clicker,)) for clicker in clickers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    outcomes = sorted(decision.outcome for decision in decisions)
    assert outcomes == ["approved"] + ["refused"] * (len(clickers) - 1)
    winner = next(decision for decision in decisions if decision.outcome == "approved")
    stored = service.get(approval.id)
    assert stored is not None and stored.decided_by == winner.approval.decided_by  # type: ignore[union-attr]
    for loser in (decision for decision in decisions if decision.outcome == "refused"):
        assert f"already approved by <@{stored.decided_by}>" in loser.message
