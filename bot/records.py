"""The shared records: runs, approvals, schedules and audit events, as frozen dataclasses. Pure.

The store's repositories return them, and rendering, tracking and the use cases read them, so
they live in the pure core rather than in the store: nothing that renders or tracks a run
needs to import the database layer. They are plain values, safe to pass between threads and
to keep after the session closed. Status and kind strings are module constants so callers do
not retype them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DECISION_ALLOW = "allow"
DECISION_DENY = "deny"
DECISION_NONE = "none"

RESULT_OK = "ok"
RESULT_ERROR = "error"
RESULT_REFUSED = "refused"
RESULT_PENDING = "pending"

RUN_WORKFLOW = "workflow"
RUN_SYNC = "sync"
RUN_ROLLBACK = "rollback"
RUN_ROLLOUT = "rollout"

APPROVAL_PENDING = "pending"
APPROVAL_APPROVED = "approved"
APPROVAL_REJECTED = "rejected"
APPROVAL_EXPIRED = "expired"
APPROVAL_FAILED = "failed"
APPROVAL_EXECUTED = "executed"
APPROVAL_STATUSES = (
    APPROVAL_PENDING,
    APPROVAL_APPROVED,
    APPROVAL_REJECTED,
    APPROVAL_EXPIRED,
    APPROVAL_FAILED,
    APPROVAL_EXECUTED,
)


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit log. `id` is None until `AuditRepo.record` stored it."""

    at: datetime
    actor_id: str
    actor_name: str = ""
    channel_id: str = ""
    command: str = ""
    text: str = ""
    resource: str = ""
    action: str = ""
    object: str = ""
    decision: str = DECISION_NONE
    result: str = ""
    detail: str = ""
    reference: str = ""
    run_id: str | None = None
    id: int | None = None


#: Parameters of a run that follows an operation started outside the bot, for a subscription:
#: the subscription's id, who started it, the Workflow's name (one Workflow followed in several
#: channels is several runs, and run names are unique), and what identifies the operation (a
#: Workflow's uid, a sync's start) so listings show it once.
FOLLOWED_SUBSCRIPTION = "subscription"
FOLLOWED_INITIATOR = "initiated_by"
FOLLOWED_WORKFLOW = "workflow"
FOLLOWED_OPERATION = "operation"


@dataclass(frozen=True)
class Run:
    """A workflow, sync or rollback, with the Slack thread that follows it."""

    id: str
    kind: str
    cluster: str
    namespace: str
    name: str | None
    template: str | None
    parameters: dict[str, Any]
    revision: str | None
    requester_id: str
    requester_name: str
    channel_id: str
    parent_ts: str | None
    phase: str
    progress: str
    message: str
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    final_posted: bool
    resource_version: str | None
    k8s_uid: str | None

    @property
    def is_finished(self) -> bool:
        return self.finished_at is not None

    @property
    def followed_for(self) -> str | None:
        """The subscription it is followed for, when it was started outside the bot."""
        found = (self.parameters or {}).get(FOLLOWED_SUBSCRIPTION)
        return str(found) if found else None

    @property
    def shown_name(self) -> str:
        """Its name as listings show it (a followed Workflow's own name)."""
        followed = (self.parameters or {}).get(FOLLOWED_WORKFLOW)
        return self.name or (str(followed) if followed else "(not submitted)")

    @property
    def started_by(self) -> str:
        """Who started it, as listings say it: a Slack mention, else who started it outside the bot."""
        if self.requester_id:
            return f"<@{self.requester_id}>"
        return str((self.parameters or {}).get(FOLLOWED_INITIATOR) or self.requester_name or "someone")


def distinct_operations(runs: Sequence[Run]) -> list[Run]:
    """`runs` with each outside operation once (followed in several channels, it is several runs)."""
    seen: set[tuple[str, str, str, str, str]] = set()
    kept = []
    for run in runs:
        operation = str((run.parameters or {}).get(FOLLOWED_OPERATION) or "")
        if run.followed_for and operation:
            key = (run.kind, run.cluster, run.namespace, run.template or "", operation)
            if key in seen:
                continue
            seen.add(key)
        kept.append(run)
    return kept


@dataclass(frozen=True)
class Approval:
    """A request waiting for (or past) a second person's decision."""

    id: str
    action: str
    cluster: str
    project: str
    app: str
    target: str
    from_revision: str
    to_revision: str
    reason: str
    requester_id: str
    requester_name: str
    channel_id: str
    message_ts: str | None
    status: str
    decided_by: str | None
    decided_at: datetime | None
    expires_at: datetime
    created_at: datetime
    run_id: str | None
    version: int
    #: how many different people must approve, and (when set) the subjects they need
    required_approvals: int = 1
    approvers: tuple[str, ...] = ()
    #: the approvals counted so far, oldest first
    votes: tuple[Vote, ...] = ()

    @property
    def missing(self) -> int:
        """How many more approvals it needs."""
        return max(0, self.required_approvals - len(self.votes))


@dataclass(frozen=True)
class Vote:
    """One person's Approve on a request."""

    user_id: str
    user_name: str
    at: datetime


@dataclass(frozen=True)
class Schedule:
    """A scheduled post stored from Slack (config-file schedules never reach the database)."""

    id: int
    name: str
    kind: str
    cron: str
    timezone: str
    channel_id: str
    cluster: str | None
    template: str | None
    created_by: str
    created_at: datetime
    parameters: dict[str, Any] = field(default_factory=dict)


OUTBOX_POST = "post"
OUTBOX_UPDATE = "update"
OUTBOX_PENDING = "pending"
OUTBOX_SENDING = "sending"
OUTBOX_DELIVERED = "delivered"
OUTBOX_FAILED = "failed"
# done without reaching Slack: an intermediate edit or progress reply a newer state made stale
OUTBOX_SKIPPED = "skipped"


@dataclass(frozen=True)
class OutboxEntry:
    """A Slack message to enqueue: a post (`thread_key`/`thread_ts` for a reply) or an edit
    (`target_key`/`target_ts` name the message). Lower `priority` goes first."""

    key: str
    method: str
    channel_id: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    thread_key: str | None = None
    thread_ts: str | None = None
    target_key: str | None = None
    target_ts: str | None = None
    priority: int = 30
    run_id: str | None = None


@dataclass(frozen=True)
class OutboxMessage:
    """A stored outbox row. For a due row, `thread_ts`/`target_ts` are resolved from the keys."""

    id: int
    key: str
    method: str
    channel_id: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_key: str | None
    thread_ts: str | None
    target_key: str | None
    target_ts: str | None
    priority: int
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    ts: str | None
    created_at: datetime
    run_id: str | None


SUBSCRIPTION_APPS = "apps"
SUBSCRIPTION_WORKFLOWS = "workflows"
SUBSCRIPTION_FROM_COMMAND = "command"
SUBSCRIPTION_FROM_CONFIG = "config"


@dataclass(frozen=True)
class Subscription:
    """A channel's wish to hear about operations it did not start (`subscribe`, or the config file).

    `name` is a glob on the app name (kind `apps`) or the WorkflowTemplate name (kind
    `workflows`); `project`, `cluster`, `namespace` and `selector` are None for "any".
    `created_by` is the Slack user the subscription shows things for: nothing is posted that
    they could not `get` themselves.
    """

    id: str
    channel_id: str
    kind: str
    name: str
    triggers: tuple[str, ...]
    created_by: str
    created_at: datetime
    project: str | None = None
    cluster: str | None = None
    #: workflows only: a namespace, and a label selector (`k=v,k!=v,k,!k`), None for "any"
    namespace: str | None = None
    selector: str | None = None
    source: str = SUBSCRIPTION_FROM_COMMAND
