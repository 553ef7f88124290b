"""Approval requests kept in the database, decided atomically, expired by a sweep.

`ApprovalService` is the use case behind the rollback card: `request_rollback` stores a
pending request; `decide` answers an Approve/Reject click (the button carries only the id, so
the request is read again from the database, checked with `flow.decide_check`, and moved with
one conditional UPDATE: of two approvers clicking at once exactly one gets "approved");
`mark_executed` / `mark_failed` record what the rollback did; `expire_due` closes overdue
requests for a periodic sweep on the leader.

It runs no rollback itself: when `decide` returns "approved", the caller (and only that
caller) starts the rollback with `bot.argo.cd.request_rollback`, then calls `mark_executed`
or `mark_failed`. It does not post to Slack either; the card comes from
`bot.render.approvals`. The caller checks the requester's own permission
(`applications, rollback`) before `request_rollback`. Called by the command and button
handlers and the scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from bot.applications import HistoryEntry
from bot.approvals import flow
from bot.config import ApprovalRule, ApprovalSettings
from bot.errors import UserError
from bot.model import Actor
from bot.rbac.policy import (
    ACTION_APPROVE,
    ACTION_ROLLBACK,
    ACTION_SYNC,
    APPLICATIONS,
    WORKFLOWS,
)
from bot.records import (
    APPROVAL_APPROVED,
    APPROVAL_EXECUTED,
    APPROVAL_FAILED,
    APPROVAL_REJECTED,
    Approval,
)

Outcome = Literal["approved", "rejected", "refused", "counted"]
OUTCOME_APPROVED: Outcome = "approved"
OUTCOME_COUNTED: Outcome = "counted"  # an approval recorded; the request needs more
OUTCOME_REJECTED: Outcome = "rejected"
OUTCOME_REFUSED: Outcome = "refused"

log = logging.getLogger(__name__)

MESSAGE_UNKNOWN = "This approval request no longer exists."


class ApprovalStore(Protocol):
    """What the service needs from storage; `bot.store.repos.ApprovalRepo` provides it."""

    def create(
        self,
        *,
        action: str,
        cluster: str,
        app: str,
        requester_id: str,
        channel_id: str,
        expires_at: datetime,
        now: datetime,
        project: str = ...,
        target: str = ...,
        from_revision: str = ...,
        to_revision: str = ...,
        reason: str = ...,
        requester_name: str = ...,
        required_approvals: int = ...,
        approvers: Sequence[str] = ...,
        approval_id: str | None = ...,
        run_id: str | None = ...,
    ) -> Approval: ...

    def add_vote(self, approval_id: str, *, user_id: str, user_name: str, now: datetime) -> bool: ...

    def get(self, approval_id: str) -> Approval | None: ...

    def set_message(self, approval_id: str, *, message_ts: str) -> None: ...

    def set_run(self, approval_id: str, *, run_id: str) -> None: ...

    def decide(
        self,
        approval_id: str,
        *,
        new_status: str,
        decided_by: str | None,
        now: datetime,
        expected_status: str = ...,
    ) -> bool: ...

    def pending(self, *, now: datetime | None = ...) -> list[Approval]: ...

    def expire_due(self, now: datetime) -> list[Approval]: ...

    def approved_before(self, cutoff: datetime) -> list[Approval]: ...


class PermissionChecker(Protocol):
    """`bot.rbac.enforcer.Enforcer` has this shape."""

    def can(self, subjects: Sequence[str], *, resource: str, action: str, obj: str) -> bool: ...


@dataclass(frozen=True)
class Decision:
    """The answer to one click.

    `outcome` is "approved" only for the single click that won the request: run the action
    then, and only then. "counted": the click's approval was recorded and more are needed.
    `approval` is the request as the database holds it after the click (None when the id is
    unknown); `message` is the sentence for the clicker (ephemeral).
    """

    outcome: Outcome
    approval: Approval | None
    message: str


def approver_check(checker: PermissionChecker, actor: Actor) -> Callable[[Approval], bool]:
    """`can_approve` for `ApprovalService.decide`: `approvals, approve` on the request's app.

    The check runs on the request read from the database at click time, so a permission
    removed since the card was posted is honoured.
    """

    def can(approval: Approval) -> bool:
        resource, action, obj = flow.permission_of(approval)
        return checker.can(actor.subjects, resource=resource, action=action, obj=obj)

    return can


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ApprovalService:
    """Stores, decides and expires approval requests.

    Args:
        repo: the approval storage (`ApprovalRepo`).
        settings: `approvals` from the configuration (expiry, self-approval).
        clock: the current time, timezone-aware UTC; injected so tests control expiry.
    """

    def __init__(
        self,
        *,
        repo: ApprovalStore,
        settings: ApprovalSettings,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._repo = repo
        self._settings = settings
        self._clock = clock

    def request_rollback(
        self,
        *,
        actor: Actor,
        channel_id: str,
        cluster: str,
        project: str,
        app: str,
        target: HistoryEntry,
        current: HistoryEntry,
        reason: str,
        auto_sync_off: bool = False,
    ) -> Approval:
        """Store a pending rollback request that expires `expiry_minutes` from now.

        Args:
            actor: who asks (already checked for `applications, rollback`).
            channel_id: where the card will be posted.
            cluster, project, app: the application (the RBAC object is `cluster/project/app`).
            target: the history entry to go back to.
            current: the history entry deployed now.
            reason: free text from the requester, shown on the card.
            auto_sync_off: auto-sync is on and the rollback will turn it off (the card says so).

        Raises:
            UserError: the target is the entry already deployed.
        """
        if target.id == current.id:
            raise UserError(f"`{app}` already runs history entry {target.id}: there is nothing to roll back.")
        obj = f"{cluster}/{project}/{app}"
        rule = flow.rule_for(
            self._settings.require_for, resource=APPLICATIONS, action=ACTION_ROLLBACK, obj=obj
        )
        return self._pending(
            rule,
            action=ACTION_ROLLBACK,
            cluster=cluster,
            project=project,
            app=app,
            target=flow.to_target(from_id=current.id, to_id=target.id, auto_sync_off=auto_sync_off),
            from_revision=current.revision,
            to_revision=target.revision,
            reason=reason.strip(),
            requester_id=actor.user_id,
            requester_name=actor.name,
            channel_id=channel_id,
        )

    def request_sync(
        self,
        *,
        actor: Actor,
        channel_id: str,
        cluster: str,
        project: str,
        app: str,
        rule: ApprovalRule,
        deployed_revision: str,
        revision: str | None,
        target_revision: str,
        prune: bool,
    ) -> Approval:
        """Store a pending sync request under `rule` (its quorum and approvers).

        Args:
            actor: who asks (already checked for `applications, sync`).
            deployed_revision: what runs now (`status.sync.revision`), shown as From.
            revision: the revision asked for, or None for the app's target revision.
            target_revision: the app's `targetRevision`, shown as To when `revision` is None.
            prune: whether the sync prunes.
        """
        return self._pending(
            rule,
            action=ACTION_SYNC,
            cluster=cluster,
            project=project,
            app=app,
            target=flow.sync_target(revision=revision, prune=prune),
            from_revision=deployed_revision,
            to_revision=revision or target_revision,
            requester_id=actor.user_id,
            requester_name=actor.name,
            channel_id=channel_id,
        )

    def request_rollout(
        self,
        *,
        actor: Actor,
        channel_id: str,
        cluster: str,
        namespace: str,
        rollout: str,
        action: str,
        revision: int | None,
        rule: ApprovalRule,
    ) -> Approval:
        """Store a pending rollout command (`rollout-promote-full`, `rollout-abort`, `rollout-undo`)."""
        return self._pending(
            rule,
            action=action,
            cluster=cluster,
            project=namespace,
            app=rollout,
            target=str(revision) if revision is not None else "",
            requester_id=actor.user_id,
            requester_name=actor.name,
            channel_id=channel_id,
        )

    def request_resume(
        self,
        *,
        run_id: str,
        cluster: str,
        namespace: str,
        workflow: str,
        template: str,
        node_id: str,
        step: str,
        requester_id: str,
        requester_name: str,
        channel_id: str,
    ) -> Approval:
        """The pending request to resume a Workflow's approval step, created the first time.

        Its id derives from the run and the node, so the same step announced again (each
        watch event, a restart, a new leader) is the same request with the same card. The
        quorum comes from a rule on `workflows, approve` for `<cluster>/<namespace>/<template>`.
        """
        obj = f"{cluster}/{namespace}/{template}"
        rule = flow.rule_for(self._settings.require_for, resource=WORKFLOWS, action=ACTION_APPROVE, obj=obj)
        return self._pending(
            rule,
            approval_id=flow.step_approval_id(run_id, node_id),
            action=flow.ACTION_RESUME,
            cluster=cluster,
            project=namespace,
            app=workflow,
            target=node_id,
            from_revision=template,
            to_revision=step,
            requester_id=requester_id,
            requester_name=requester_name,
            channel_id=channel_id,
            run_id=run_id,
        )

    def _pending(self, rule: ApprovalRule | None, **fields: Any) -> Approval:
        """Store a pending request that expires `expiry_minutes` from now, with `rule`'s quorum."""
        now = self._clock()
        return self._repo.create(
            expires_at=now + timedelta(minutes=self._settings.expiry_minutes),
            now=now,
            required_approvals=rule.approvals if rule is not None else 1,
            approvers=rule.approvers if rule is not None else (),
            **fields,
        )

    def get(self, approval_id: str) -> Approval | None:
        return self._repo.get(approval_id)

    def set_message(self, approval_id: str, *, message_ts: str) -> None:
        """Remember the card's `ts`, to replace it once decided or expired."""
        self._repo.set_message(approval_id, message_ts=message_ts)

    def set_run(self, approval_id: str, *, run_id: str) -> None:
        """Remember the run of an approved request before its write: the sweep's marker."""
        self._repo.set_run(approval_id, run_id=run_id)

    def stuck(self, *, older_than: timedelta) -> list[Approval]:
        """Requests approved more than `older_than` ago and neither executed nor failed."""
        return self._repo.approved_before(self._clock() - older_than)

    def pending(self) -> list[Approval]:
        """Requests still open now, oldest first."""
        return self._repo.pending(now=self._clock())

    def decide(
        self,
        *,
        approval_id: str,
        clicker: Actor,
        approve: bool,
        can_approve: bool | Callable[[Approval], bool],
        subjects: Sequence[str] = (),
    ) -> Decision:
        """Answer an Approve (`approve=True`) or Reject click.

        Args:
            approval_id: the button's value, nothing more is trusted from the click.
            clicker: who clicked.
            approve: True for Approve, False for Reject.
            can_approve: whether the clicker holds `approvals, approve` on the request's app;
                pass `approver_check(enforcer, clicker)` to have it checked on the request
                as read from the database.
            subjects: the clicker's subjects with their roles, for a request that names its
                `approvers`.

        Returns:
            A `Decision`; run the rollback only when its outcome is "approved".

        An Approve is first recorded as the clicker's vote (once per person, on any replica);
        the request moves to approved only when the votes reach `required_approvals`, with
        the same conditional update as before, so the last needed click executes exactly once
        even when the last two race.
        """
        approval = self._repo.get(approval_id)
        if approval is None:
            return Decision(outcome=OUTCOME_REFUSED, approval=None, message=MESSAGE_UNKNOWN)
        decision = flow.DECISION_APPROVE if approve else flow.DECISION_REJECT
        allowed = can_approve(approval) if callable(can_approve) else can_approve
        now = self._clock()
        refusal = flow.decide_check(
            approval=approval,
            clicker=clicker,
            decision=decision,
            can_approve=allowed,
            allow_self=self._settings.allow_self_approval,
            now=now,
            subjects=subjects,
        )
        if refusal is not None:
            return Decision(outcome=OUTCOME_REFUSED, approval=approval, message=refusal)
        if approve:
            if not self._repo.add_vote(approval_id, user_id=clicker.user_id, user_name=clicker.name, now=now):
                fresh = self._repo.get(approval_id) or approval
                return Decision(
                    outcome=OUTCOME_REFUSED,
                    approval=fresh,
                    message=f"You already approved this request: {flow.quorum_text(fresh)}.",
                )
            counted = self._repo.get(approval_id) or approval
            if counted.missing > 0:
                return Decision(
                    outcome=OUTCOME_COUNTED,
                    approval=counted,
                    message=f"Your approval is recorded: {flow.quorum_text(counted)}.",
                )
        new_status = APPROVAL_APPROVED if approve else APPROVAL_REJECTED
        won = self._repo.decide(approval_id, new_status=new_status, decided_by=clicker.user_id, now=now)
        fresh = self._repo.get(approval_id) or approval
        if not won:
            # Someone else decided (or the request expired) between our read and our update:
            # checking the fresh row names who, or says it expired.
            message = flow.decide_check(
                approval=fresh,
                clicker=clicker,
                decision=decision,
                can_approve=allowed,
                allow_self=self._settings.allow_self_approval,
                now=now,
                subjects=subjects,
            )
            return Decision(
                outcome=OUTCOME_REFUSED,
                approval=fresh,
                message=message or "This request was decided by someone else a moment ago.",
            )
        outcome = OUTCOME_APPROVED if approve else OUTCOME_REJECTED
        return Decision(outcome=outcome, approval=fresh, message=flow.decided_text(fresh, decision=decision))

    def mark_executed(self, approval_id: str, *, run_id: str) -> Approval | None:
        """Record that the approved rollback started as run `run_id`; the updated request.

        Returns None when the request was not `approved` (nothing is changed then).
        """
        if not self._repo.decide(
            approval_id,
            new_status=APPROVAL_EXECUTED,
            decided_by=None,
            now=self._clock(),
            expected_status=APPROVAL_APPROVED,
        ):
            return None
        self._repo.set_run(approval_id, run_id=run_id)
        return self._repo.get(approval_id)

    def mark_failed(self, approval_id: str, *, message: str) -> Approval | None:
        """Record that the approved rollback could not start; the updated request.

        `message` is logged, not stored (the table has no column for it): pass it on to
        `render_decided(..., detail=message)` as well. Returns None when the request was not
        `approved`.
        """
        log.warning("approved %s could not be carried out: %s", approval_id, message[:500])
        if not self._repo.decide(
            approval_id,
            new_status=APPROVAL_FAILED,
            decided_by=None,
            now=self._clock(),
            expected_status=APPROVAL_APPROVED,
        ):
            return None
        return self._repo.get(approval_id)

    def expire_due(self) -> list[Approval]:
        """Close every pending request past its expiry; each closed request is returned once.

        Meant for a periodic job on the leader: replace each returned request's card with
        `render_expired` (its `message_ts` says where).
        """
        return self._repo.expire_due(self._clock())
