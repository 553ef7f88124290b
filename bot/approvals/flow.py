"""The approval state machine and the click-time checks, as pure functions.

States: `pending` -> `approved` -> `executed` | `failed`, and `pending` -> `rejected` |
`expired`. `decide_check` answers a click with the sentence to show the clicker, or None when
the click may go ahead; the database (`ApprovalRepo.decide`) then makes the move atomic.
A request's `target` column holds both history ids of a rollback ("42->41": from the current
entry 42 to entry 41), written by `to_target` and read back by `history_ids`.

Pure: no I/O, no clock (`now` is passed in). Leaves out persistence (`service`) and the card
(`bot.render.approvals`). Called by `bot.approvals.service` and the button handlers.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Literal

from bot.config import ApprovalRule
from bot.model import Actor
from bot.rbac import policy
from bot.records import (
    APPROVAL_APPROVED,
    APPROVAL_EXECUTED,
    APPROVAL_EXPIRED,
    APPROVAL_FAILED,
    APPROVAL_PENDING,
    APPROVAL_REJECTED,
    Approval,
)

Choice = Literal["approve", "reject"]
DECISION_APPROVE: Choice = "approve"
DECISION_REJECT: Choice = "reject"

# Every move the state machine allows; anything else is a bug or a lost race.
TRANSITIONS: dict[str, frozenset[str]] = {
    APPROVAL_PENDING: frozenset({APPROVAL_APPROVED, APPROVAL_REJECTED, APPROVAL_EXPIRED}),
    APPROVAL_APPROVED: frozenset({APPROVAL_EXECUTED, APPROVAL_FAILED}),
    APPROVAL_REJECTED: frozenset(),
    APPROVAL_EXPIRED: frozenset(),
    APPROVAL_EXECUTED: frozenset(),
    APPROVAL_FAILED: frozenset(),
}

_TARGET = re.compile(r"^(?:(?P<from>\d+)->)?(?P<to>\d+)(?P<options>(?:;[a-z-]+)*)$")
#: A rollback's `target` option: auto-sync is on and the rollback turns it off (the app is pinned).
AUTO_SYNC_OFF = "auto-sync-off"


def can_move(current: str, new: str) -> bool:
    """True when the state machine allows `current` -> `new`."""
    return new in TRANSITIONS.get(current, frozenset())


def is_final(status: str) -> bool:
    """True for states nothing leaves (rejected, expired, executed, failed)."""
    return status in TRANSITIONS and not TRANSITIONS[status]


def is_expired(approval: Approval, *, now: datetime) -> bool:
    """True when the request was closed as expired, or is still pending past `expires_at`.

    The second case matters between two expiry sweeps: the database refuses the decision then
    (`expires_at > now` is part of its conditional update), so the click must be refused too.
    """
    if approval.status == APPROVAL_EXPIRED:
        return True
    return approval.status == APPROVAL_PENDING and _aware(now) >= _aware(approval.expires_at)


#: A Workflow's approval step: `project` holds its namespace, `app` the Workflow, `target` the
#: node id, `from_revision` the WorkflowTemplate and `to_revision` the step's name.
ACTION_RESUME = "resume"


#: A Rollout command under an approval rule: `rollout-promote-full`, `rollout-abort`,
#: `rollout-undo`; `project` holds the namespace, `app` the Rollout, `target` an undo's revision.
ROLLOUT_PREFIX = "rollout-"


def is_rollout(approval: Approval) -> bool:
    return approval.action.startswith(ROLLOUT_PREFIX)


def object_of(approval: Approval) -> str:
    """The RBAC object of a request: `<cluster>/<project>/<app>`, for a Workflow's approval step
    `<cluster>/<namespace>/<template>`, for a Rollout `<cluster>/<namespace>/<rollout>`."""
    if is_rollout(approval):
        return policy.rollout_object(
            cluster=approval.cluster, namespace=approval.project, rollout=approval.app
        )
    if approval.action == ACTION_RESUME:
        return policy.workflow_object(
            cluster=approval.cluster, namespace=approval.project, template=approval.from_revision
        )
    return policy.application_object(cluster=approval.cluster, project=approval.project, app=approval.app)


def permission_of(approval: Approval) -> tuple[str, str, str]:
    """What a decider needs: `approvals, approve` on the app, `workflows, approve` on the template."""
    if approval.action == ACTION_RESUME:
        return policy.WORKFLOWS, policy.ACTION_APPROVE, object_of(approval)
    return policy.APPROVALS, policy.ACTION_APPROVE, object_of(approval)


def step_approval_id(run_id: str, node_id: str) -> str:
    """The request for one approval step of one run: the same id however often it is announced."""
    return hashlib.sha256(f"{run_id}\x1f{node_id}".encode()).hexdigest()[:32]


def to_target(*, from_id: int, to_id: int, auto_sync_off: bool = False) -> str:
    """The `target` column of a rollback request: both history ids, current first, and whether
    it turns auto-sync off."""
    return f"{from_id}->{to_id}" + (f";{AUTO_SYNC_OFF}" if auto_sync_off else "")


def turns_off_auto_sync(approval: Approval) -> bool:
    """Whether the card said the rollback turns automated sync off (the app stays pinned)."""
    match = _TARGET.match(approval.target.strip())
    return match is not None and AUTO_SYNC_OFF in match.group("options").split(";")


def history_ids(approval: Approval) -> tuple[int | None, int | None]:
    """(from history id, to history id) of a rollback request; None where not recorded.

    A bare number ("41") is read as the target alone.
    """
    match = _TARGET.match(approval.target.strip())
    if match is None:
        return None, None
    raw_from = match.group("from")
    return (int(raw_from) if raw_from else None), int(match.group("to"))


SYNC_PRUNE = "prune"


def sync_target(*, revision: str | None, prune: bool) -> str:
    """The `target` column of a sync request: the revision asked for ("" for the app's target
    revision) and its options, so the approved sync is the one the card showed."""
    return ";".join([f"revision={revision or ''}", *([SYNC_PRUNE] if prune else [])])


def sync_options(approval: Approval) -> tuple[str | None, bool]:
    """(revision or None, prune) of a sync request."""
    parts = approval.target.split(";")
    revision = next((p.split("=", 1)[1] for p in parts if p.startswith("revision=")), "")
    return (revision or None), SYNC_PRUNE in parts


def rule_for(rules: Sequence[ApprovalRule], *, resource: str, action: str, obj: str) -> ApprovalRule | None:
    """The first `approvals.require_for` rule covering this action (globs on action and object)."""
    for rule in rules:
        if (
            rule.resource == resource
            and fnmatch.fnmatchcase(action, rule.action)
            and fnmatch.fnmatchcase(obj, rule.object)
        ):
            return rule
    return None


def listed(subjects: Sequence[str]) -> str:
    """`group:sre` or `role:lead` as people read it: "`group:sre` or `role:lead`"."""
    shown = [f"`{subject}`" for subject in subjects]
    return " or ".join(shown) if len(shown) < 3 else ", ".join(shown[:-1]) + f" or {shown[-1]}"


def quorum_text(approval: Approval) -> str:
    """How far a request is: "1 of 2 approvals (<@U1>); 1 more needed, from `group:sre`"."""
    who = ", ".join(f"<@{vote.user_id}>" for vote in approval.votes)
    have = f"{len(approval.votes)} of {approval.required_approvals} approvals" + (f" ({who})" if who else "")
    if approval.missing == 0:
        return have
    source = f", from {listed(approval.approvers)}" if approval.approvers else ""
    return f"{have}; {approval.missing} more needed{source}"


INFO_REQUESTER = "chatops-requested-by"
INFO_APPROVERS = "chatops-approved-by"


def operation_info(approval: Approval, *, approver: Actor) -> tuple[tuple[str, str], ...]:
    """`operation.info` entries naming who asked and who approved, so `kubectl get application
    -o yaml` and the Argo CD UI show them too (the bot's own token would hide the people)."""
    voters = [vote.user_name or vote.user_id for vote in approval.votes]
    if not voters:
        voters = [approver.email or approver.name or approver.user_id]
    requester = approval.requester_name or approval.requester_id
    return (
        (INFO_REQUESTER, f"{requester} (slack {approval.requester_id})"),
        (INFO_APPROVERS, ", ".join(voters)),
    )


def decide_check(
    *,
    approval: Approval,
    clicker: Actor,
    decision: Choice,
    can_approve: bool,
    allow_self: bool,
    now: datetime,
    subjects: Sequence[str] = (),
) -> str | None:
    """Why this click may not decide the request (a sentence for the clicker), or None.

    The checks run in this order: permission (so a refused person learns nothing more), then
    whether the request is still open, then the requester's own request. The requester may
    always withdraw (reject) their own pending request, even without `approvals, approve`.

    Args:
        approval: the request as just read from the database.
        clicker: who clicked.
        decision: `"approve"` or `"reject"`.
        can_approve: whether the clicker holds `approvals, approve` on `object_of(approval)`.
        allow_self: `approvals.allow_self_approval` from the settings.
        now: the current time (UTC).
        subjects: the clicker's subjects and roles, checked against the request's `approvers`.
    """
    own = clicker.user_id == approval.requester_id
    withdrawing = own and decision == DECISION_REJECT
    if not can_approve and not withdrawing:
        resource, action, obj = permission_of(approval)
        return f"You may not decide this request: it needs `{resource}, {action}` on `{obj}`."
    if approval.status != APPROVAL_PENDING:
        return closed_text(approval)
    if is_expired(approval, now=now):
        return f"This request expired at {_when(approval.expires_at)}; ask again with a new request."
    if own and decision == DECISION_APPROVE and not allow_self:
        return "You cannot approve your own request: someone else with `approvals, approve` has to."
    if approval.approvers and not withdrawing and not set(approval.approvers) & set(subjects):
        return f"This request needs approvals from {listed(approval.approvers)}, and you are not among them."
    if decision == DECISION_APPROVE and any(vote.user_id == clicker.user_id for vote in approval.votes):
        return f"You already approved this request: {quorum_text(approval)}."
    return None


def closed_text(approval: Approval) -> str:
    """Why a request that has left `pending` can no longer be decided."""
    who = f"<@{approval.decided_by}>" if approval.decided_by else "someone"
    when = f" at {_when(approval.decided_at)}" if approval.decided_at else ""
    if approval.status in (APPROVAL_APPROVED, APPROVAL_EXECUTED, APPROVAL_FAILED):
        return f"This request was already approved by {who}{when}."
    if approval.status == APPROVAL_REJECTED:
        return f"This request was already rejected by {who}{when}."
    if approval.status == APPROVAL_EXPIRED:
        return f"This request expired at {_when(approval.expires_at)}; ask again with a new request."
    return "This request can no longer be decided."


def decided_text(approval: Approval, *, decision: Choice) -> str:
    """What the winning clicker is told."""
    if approval.action == ACTION_RESUME:
        if decision == DECISION_APPROVE:
            return f"You approved step `{approval.to_revision}` of `{approval.app}`; it goes on now."
        return f"You rejected step `{approval.to_revision}` of `{approval.app}`; the workflow stops."
    if is_rollout(approval):
        what = approval.action.removeprefix(ROLLOUT_PREFIX).replace("-", " ")
        if decision == DECISION_APPROVE:
            return f"You approved the {what} of `{approval.app}`; it starts now."
        return f"You rejected the {what} of `{approval.app}`; nothing was changed."
    if decision == DECISION_APPROVE:
        return f"You approved the {approval.action} of `{approval.app}`; it starts now."
    return f"You rejected the {approval.action} of `{approval.app}`; nothing was changed."


def _when(moment: datetime) -> str:
    return _aware(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
