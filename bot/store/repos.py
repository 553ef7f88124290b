"""Repositories: the only code that queries the tables.

Each repository takes a `Database`, opens one short transaction per call and returns frozen
dataclasses from `records`. State changes that several replicas or threads may race on
(approval decisions, posting a run's parent or final message, expiring approvals) are
conditional UPDATEs whose row count says who won, so no lock is held across Slack or
Kubernetes calls. Leaves out business rules (who may approve, what to post): callers decide.
Used by the command handlers, the tracker, the approval service and the schedules.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.expression import Executable

from bot.announcing import edit_key
from bot.errors import StorageError
from bot.records import (
    APPROVAL_APPROVED,
    APPROVAL_EXPIRED,
    APPROVAL_PENDING,
    APPROVAL_STATUSES,
    OUTBOX_DELIVERED,
    OUTBOX_FAILED,
    OUTBOX_PENDING,
    OUTBOX_POST,
    OUTBOX_SENDING,
    OUTBOX_SKIPPED,
    OUTBOX_UPDATE,
    Approval,
    AuditEvent,
    OutboxEntry,
    OutboxMessage,
    Run,
    Schedule,
    Vote,
)
from bot.store.db import Database
from bot.store.tables import (
    AUDIT_TEXT_MAX,
    SHORT_MAX,
    ApprovalRow,
    ApprovalVoteRow,
    AuditEventRow,
    OutboxRow,
    ProcessedEventRow,
    RunRow,
    ScheduleRow,
)

MESSAGE_MAX = 2000
MAX_LIMIT = 500


class _Unchanged:
    """Marks a keyword argument the caller did not pass (None is a meaningful value)."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Any = _Unchanged()


def _clip(value: str | None, limit: int) -> str:
    text = value or ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _new_id() -> str:
    return uuid.uuid4().hex


def _affected(session: Session, statement: Executable) -> int:
    """Rows matched by an UPDATE/DELETE: how a conditional write tells who won."""
    result = cast("CursorResult[Any]", session.execute(statement))
    return int(result.rowcount)


def _limit(limit: int) -> int:
    return max(1, min(int(limit), MAX_LIMIT))


def _to_audit(row: AuditEventRow) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=row.at,
        actor_id=row.actor_id,
        actor_name=row.actor_name,
        channel_id=row.channel_id,
        command=row.command,
        text=row.text,
        resource=row.resource,
        action=row.action,
        object=row.object,
        decision=row.decision,
        result=row.result,
        detail=row.detail,
        reference=row.reference,
        run_id=row.run_id,
    )


def _to_run(row: RunRow) -> Run:
    return Run(
        id=row.id,
        kind=row.kind,
        cluster=row.cluster,
        namespace=row.namespace,
        name=row.name,
        template=row.template,
        parameters=dict(row.parameters or {}),
        revision=row.revision,
        requester_id=row.requester_id,
        requester_name=row.requester_name,
        channel_id=row.channel_id,
        parent_ts=row.parent_ts,
        phase=row.phase,
        progress=row.progress,
        message=row.message,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        final_posted=bool(row.final_posted),
        resource_version=row.resource_version,
        k8s_uid=row.k8s_uid,
    )


def _to_approval(row: ApprovalRow, votes: Sequence[Vote] = ()) -> Approval:
    return Approval(
        id=row.id,
        action=row.action,
        cluster=row.cluster,
        project=row.project,
        app=row.app,
        target=row.target,
        from_revision=row.from_revision,
        to_revision=row.to_revision,
        reason=row.reason,
        requester_id=row.requester_id,
        requester_name=row.requester_name,
        channel_id=row.channel_id,
        message_ts=row.message_ts,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        expires_at=row.expires_at,
        created_at=row.created_at,
        run_id=row.run_id,
        version=row.version,
        required_approvals=row.required_approvals or 1,
        approvers=tuple(s for s in (row.approvers or "").split(",") if s),
        votes=tuple(votes),
    )


def _to_schedule(row: ScheduleRow) -> Schedule:
    return Schedule(
        id=row.id,
        name=row.name,
        kind=row.kind,
        cron=row.cron,
        timezone=row.timezone,
        channel_id=row.channel_id,
        cluster=row.cluster,
        template=row.template,
        parameters=dict(row.parameters or {}),
        created_by=row.created_by,
        created_at=row.created_at,
    )


PARENT_KEY_PREFIX = "parent:"
KEY_MAX = 255


def _to_outbox(
    row: OutboxRow, *, thread_ts: str | None = None, target_ts: str | None = None
) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        key=row.key,
        method=row.method,
        channel_id=row.channel_id,
        text=row.text,
        blocks=list(row.blocks) if row.blocks is not None else None,
        thread_key=row.thread_key,
        thread_ts=row.thread_ts or thread_ts,
        target_key=row.target_key,
        target_ts=row.target_ts or target_ts,
        priority=row.priority,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        ts=row.ts,
        created_at=row.created_at,
        run_id=row.run_id,
    )


def _check_key(key: str | None) -> None:
    if key is not None and (not key or len(key) > KEY_MAX):
        raise ValueError(f"an outbox key must have 1 to {KEY_MAX} characters, got {len(key)}")


def enqueue_in(session: Session, entry: OutboxEntry, *, now: datetime) -> bool:
    """Add `entry` in the caller's transaction; True when something was written.

    A post whose key exists already is left alone (idempotent). An edit replaces any edit
    stored under its key, whatever its state, with a new row (new id, so it sorts after what
    was enqueued before it): only the newest content of a message is sent.
    """
    for key in (entry.key, entry.thread_key, entry.target_key):
        _check_key(key)
    if entry.method == OUTBOX_POST:
        if entry.target_key is not None or entry.target_ts is not None:
            raise ValueError("a post has no target; use an edit")
        if session.scalars(select(OutboxRow.id).where(OutboxRow.key == entry.key)).first() is not None:
            return False
    elif entry.method == OUTBOX_UPDATE:
        if entry.target_key is None and entry.target_ts is None:
            raise ValueError("an edit needs target_key or target_ts")
        session.execute(
            delete(OutboxRow).where(OutboxRow.key == entry.key, OutboxRow.method == OUTBOX_UPDATE)
        )
        if entry.target_key is not None:
            # a message not posted yet takes its edit's urgency: posted, it will show that content
            session.execute(
                update(OutboxRow)
                .where(
                    OutboxRow.key == entry.target_key,
                    OutboxRow.method == OUTBOX_POST,
                    OutboxRow.status == OUTBOX_PENDING,
                    OutboxRow.priority > int(entry.priority),
                )
                .values(priority=int(entry.priority))
                .execution_options(synchronize_session=False)
            )
    else:
        raise ValueError(f"unknown outbox method {entry.method!r}")
    row = OutboxRow(
        key=entry.key,
        method=entry.method,
        channel_id=entry.channel_id,
        text=entry.text,
        blocks=[dict(block) for block in entry.blocks] if entry.blocks else None,
        thread_key=entry.thread_key,
        thread_ts=entry.thread_ts,
        target_key=entry.target_key,
        target_ts=entry.target_ts,
        priority=int(entry.priority),
        status=OUTBOX_PENDING,
        attempts=0,
        next_attempt_at=now,
        last_error="",
        ts=None,
        created_at=now,
        updated_at=now,
        run_id=entry.run_id,
    )
    try:
        # a savepoint: two transactions may both have seen the key missing (PostgreSQL and
        # MySQL do not serialise them); the loser's row is refused by the unique key, and
        # only this insert is undone, not the caller's whole transaction
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def _audit_row(event: AuditEvent) -> AuditEventRow:
    return AuditEventRow(
        at=event.at,
        actor_id=_clip(event.actor_id, 32),
        actor_name=_clip(event.actor_name, 255),
        channel_id=_clip(event.channel_id, 32),
        command=_clip(event.command, 64),
        text=_clip(event.text, AUDIT_TEXT_MAX),
        resource=_clip(event.resource, 64),
        action=_clip(event.action, 64),
        object=_clip(event.object, 512),
        decision=_clip(event.decision, 16),
        result=_clip(event.result, 16),
        detail=_clip(event.detail, SHORT_MAX),
        reference=_clip(event.reference, 64),
        run_id=event.run_id,
    )


class AuditRepo:
    """Append-only audit log: every command and every permission decision."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def record(self, event: AuditEvent) -> int:
        """Store `event` (its `id` is ignored) and return the new id. Long text is truncated."""
        return self.record_many([event])[0]

    def record_many(self, events: Sequence[AuditEvent]) -> list[int]:
        """Store several events in ONE transaction (a group commit); their new ids, in order."""
        rows = [_audit_row(event) for event in events]
        with self._db.session() as session:
            session.add_all(rows)
            session.flush()
            return [row.id for row in rows]

    def complete(self, event_id: int, *, event: AuditEvent) -> None:
        """Replace a `pending` row (the intent, written before acting) with what happened."""
        values = {
            "resource": _clip(event.resource, 64),
            "action": _clip(event.action, 64),
            "object": _clip(event.object, 512),
            "decision": _clip(event.decision, 16),
            "result": _clip(event.result, 16),
            "detail": _clip(event.detail, SHORT_MAX),
            "run_id": event.run_id,
        }
        with self._db.session() as session:
            session.execute(update(AuditEventRow).where(AuditEventRow.id == event_id).values(**values))

    def recent(self, *, actor_id: str | None = None, limit: int = 20) -> list[AuditEvent]:
        """The newest events first, optionally only one person's."""
        query = select(AuditEventRow).order_by(AuditEventRow.at.desc(), AuditEventRow.id.desc())
        if actor_id is not None:
            query = query.where(AuditEventRow.actor_id == actor_id)
        with self._db.session() as session:
            return [_to_audit(row) for row in session.scalars(query.limit(_limit(limit)))]


class RunRepo:
    """Runs and the Slack messages that follow them; what a restarted leader resumes from."""

    def __init__(self, db: Database, *, new_id: Callable[[], str] = _new_id) -> None:
        self._db = db
        self._new_id = new_id

    def create(
        self,
        *,
        kind: str,
        cluster: str,
        namespace: str,
        requester_id: str,
        channel_id: str,
        now: datetime,
        requester_name: str = "",
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        revision: str | None = None,
        name: str | None = None,
        phase: str = "Pending",
        run_id: str | None = None,
    ) -> Run:
        """Record a run before it is submitted, so a crash mid-submit leaves a trace.

        `run_id` is given for runs whose id derives from what they follow (an operation
        started outside the bot), so a second leader or a restart finds the same run.
        """
        row = RunRow(
            id=run_id or self._new_id(),
            kind=kind,
            cluster=cluster,
            namespace=namespace,
            name=name,
            template=template,
            parameters=dict(parameters or {}),
            revision=revision,
            requester_id=requester_id,
            requester_name=_clip(requester_name, 255),
            channel_id=channel_id,
            parent_ts=None,
            phase=phase,
            progress="",
            message="",
            created_at=now,
            updated_at=now,
            finished_at=None,
            final_posted=False,
        )
        try:
            with self._db.session() as session:
                session.add(row)
                session.flush()
                return _to_run(row)
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise StorageError(
                    f"a {kind} run named {name!r} in {cluster}/{namespace} is already recorded"
                ) from exc.__cause__
            raise

    def get(self, run_id: str) -> Run | None:
        with self._db.session() as session:
            row = session.get(RunRow, run_id)
            return _to_run(row) if row is not None else None

    def by_name(self, *, cluster: str, namespace: str, kind: str, name: str) -> Run | None:
        """The run tracking Kubernetes object `name` (how a watch event finds its run)."""
        query = select(RunRow).where(
            RunRow.cluster == cluster, RunRow.namespace == namespace, RunRow.kind == kind, RunRow.name == name
        )
        with self._db.session() as session:
            row = session.scalars(query).first()
            return _to_run(row) if row is not None else None

    def update_progress(
        self,
        run_id: str,
        *,
        now: datetime,
        phase: str = UNCHANGED,
        progress: str = UNCHANGED,
        message: str = UNCHANGED,
        name: str | None = UNCHANGED,
        k8s_uid: str | None = UNCHANGED,
        resource_version: str | None = UNCHANGED,
        finished_at: datetime | None = UNCHANGED,
    ) -> Run:
        """Change the given fields (others stay as they are) and return the updated run.

        Raises:
            StorageError: no such run, or the name clashes with another run's.
        """
        values: dict[str, Any] = {"updated_at": now}
        for key, value in (
            ("phase", phase),
            ("progress", progress),
            ("name", name),
            ("k8s_uid", k8s_uid),
            ("resource_version", resource_version),
            ("finished_at", finished_at),
        ):
            if value is not UNCHANGED:
                values[key] = value
        if message is not UNCHANGED:
            values["message"] = _clip(message, MESSAGE_MAX)
        with self._db.session() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise StorageError(f"no run with id {run_id!r}")
            for key, value in values.items():
                setattr(row, key, value)
            session.flush()
            return _to_run(row)

    def set_parent(self, run_id: str, *, parent_ts: str, now: datetime) -> bool:
        """Remember the parent message's ts; False when one was already recorded.

        Conditional, so two replicas racing to post the parent learn which one won and the
        loser can delete its duplicate.
        """
        statement = (
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.parent_ts.is_(None))
            .values(parent_ts=parent_ts, updated_at=now)
        )
        with self._db.session() as session:
            return _affected(session, statement) == 1

    def mark_final_posted(self, run_id: str, *, now: datetime) -> bool:
        """Flag the final summary as posted; True only for the call that flipped the flag."""
        statement = (
            update(RunRow)
            .where(RunRow.id == run_id, RunRow.final_posted.is_(False))
            .values(final_posted=True, updated_at=now)
        )
        with self._db.session() as session:
            return _affected(session, statement) == 1

    def advance(
        self,
        run_id: str,
        *,
        now: datetime,
        phase: str = UNCHANGED,
        progress: str = UNCHANGED,
        message: str = UNCHANGED,
        finished_at: datetime | None = UNCHANGED,
        messages: Sequence[OutboxEntry] = (),
        final: bool = False,
    ) -> Run | None:
        """Store a run's new state and enqueue its Slack messages in ONE transaction.

        With `final`, the "final enqueued" flag (`final_posted`) is flipped in the same
        transaction, conditionally: when it was set already (another replica or an earlier life
        finished the run) nothing at all is written and None is returned. So the final state,
        the summary and the flag land together or not at all.

        Raises:
            StorageError: no such run, or the database failed (nothing was written).
        """
        values: dict[str, Any] = {"updated_at": now}
        for key, value in (("phase", phase), ("progress", progress), ("finished_at", finished_at)):
            if value is not UNCHANGED:
                values[key] = value
        if message is not UNCHANGED:
            values["message"] = _clip(message, MESSAGE_MAX)
        with self._db.session() as session:
            if final:
                flipped = _affected(
                    session,
                    update(RunRow)
                    .where(RunRow.id == run_id, RunRow.final_posted.is_(False))
                    .values(final_posted=True),
                )
                if flipped != 1:
                    if session.get(RunRow, run_id) is None:
                        raise StorageError(f"no run with id {run_id!r}")
                    return None
            row = session.get(RunRow, run_id)
            if row is None:
                raise StorageError(f"no run with id {run_id!r}")
            for key, value in values.items():
                setattr(row, key, value)
            for entry in messages:
                enqueue_in(session, entry, now=now)
            session.flush()
            return _to_run(row)

    def unfinished(self) -> list[Run]:
        """Runs whose final message is not posted yet: what a new leader must keep tracking."""
        query = select(RunRow).where(RunRow.final_posted.is_(False)).order_by(RunRow.created_at)
        with self._db.session() as session:
            return [_to_run(row) for row in session.scalars(query)]

    def recent(
        self,
        *,
        requester_id: str | None = None,
        template: str | None = None,
        kind: str | None = None,
        since: datetime | None = None,
        limit: int = 20,
    ) -> list[Run]:
        """Newest runs first, filtered as `runs --mine --template T` and the digest need."""
        query = select(RunRow).order_by(RunRow.created_at.desc(), RunRow.id)
        if requester_id is not None:
            query = query.where(RunRow.requester_id == requester_id)
        if template is not None:
            query = query.where(RunRow.template == template)
        if kind is not None:
            query = query.where(RunRow.kind == kind)
        if since is not None:
            query = query.where(RunRow.created_at >= since)
        with self._db.session() as session:
            return [_to_run(row) for row in session.scalars(query.limit(_limit(limit)))]


class ApprovalRepo:
    """Approval requests and their atomic decisions."""

    def __init__(self, db: Database, *, new_id: Callable[[], str] = _new_id) -> None:
        self._db = db
        self._new_id = new_id

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
        project: str = "",
        target: str = "",
        from_revision: str = "",
        to_revision: str = "",
        reason: str = "",
        requester_name: str = "",
        required_approvals: int = 1,
        approvers: Sequence[str] = (),
        approval_id: str | None = None,
        run_id: str | None = None,
    ) -> Approval:
        """Store a pending request; with `approval_id`, one that already exists is returned as it is
        (a request derived from what it is about, asked again after a restart)."""
        if approval_id is not None:
            known = self.get(approval_id)
            if known is not None:
                return known
        row = ApprovalRow(
            id=approval_id or self._new_id(),
            action=action,
            cluster=cluster,
            project=project,
            app=app,
            target=_clip(target, 255),
            from_revision=_clip(from_revision, 255),
            to_revision=_clip(to_revision, 255),
            reason=_clip(reason, MESSAGE_MAX),
            requester_id=requester_id,
            requester_name=_clip(requester_name, 255),
            channel_id=channel_id,
            message_ts=None,
            status=APPROVAL_PENDING,
            decided_by=None,
            decided_at=None,
            expires_at=expires_at,
            created_at=now,
            run_id=run_id,
            version=1,
            required_approvals=required_approvals,
            approvers=_clip(",".join(approvers), 1000),
        )
        try:
            with self._db.session() as session:
                session.add(row)
                session.flush()
                return _to_approval(row)
        except StorageError as exc:
            if approval_id is None or not isinstance(exc.__cause__, IntegrityError):
                raise
            known = self.get(approval_id)  # asked twice at once: the first one stands
            if known is None:
                raise
            return known

    def get(self, approval_id: str) -> Approval | None:
        with self._db.session() as session:
            row = session.get(ApprovalRow, approval_id)
            return _to_approval(row, self._votes(session, approval_id)) if row is not None else None

    @staticmethod
    def _votes(session: Session, approval_id: str) -> list[Vote]:
        query = (
            select(ApprovalVoteRow)
            .where(ApprovalVoteRow.approval_id == approval_id)
            .order_by(ApprovalVoteRow.at, ApprovalVoteRow.user_id)
        )
        return [Vote(user_id=v.user_id, user_name=v.user_name, at=v.at) for v in session.scalars(query)]

    def add_vote(self, approval_id: str, *, user_id: str, user_name: str, now: datetime) -> bool:
        """Count one person's Approve once: False when they had already approved (any replica)."""
        try:
            with self._db.session() as session:
                session.add(
                    ApprovalVoteRow(
                        approval_id=approval_id, user_id=user_id, user_name=_clip(user_name, 255), at=now
                    )
                )
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise
        return True

    def set_message(self, approval_id: str, *, message_ts: str) -> None:
        """Remember where the approval card was posted, to update or strip its buttons later."""
        statement = update(ApprovalRow).where(ApprovalRow.id == approval_id).values(message_ts=message_ts)
        with self._db.session() as session:
            session.execute(statement)

    def set_run(self, approval_id: str, *, run_id: str) -> None:
        """Link the run the approved action started."""
        statement = update(ApprovalRow).where(ApprovalRow.id == approval_id).values(run_id=run_id)
        with self._db.session() as session:
            session.execute(statement)

    def decide(
        self,
        approval_id: str,
        *,
        new_status: str,
        decided_by: str | None,
        now: datetime,
        expected_status: str = APPROVAL_PENDING,
    ) -> bool:
        """Move the approval from `expected_status` to `new_status`; True only for the winner.

        One conditional UPDATE (`WHERE status = expected_status`), so of two approvers
        clicking at once exactly one gets True, on every backend, with no lock held. Leaving
        `pending` records `decided_by`/`decided_at`, and is refused once `expires_at` has
        passed even if the expiry sweep has not closed the request yet. Later moves
        (approved -> executed/failed) keep who decided.
        """
        if new_status not in APPROVAL_STATUSES:
            raise ValueError(f"unknown approval status {new_status!r}")
        values: dict[str, Any] = {"status": new_status, "version": ApprovalRow.version + 1}
        conditions = [ApprovalRow.id == approval_id, ApprovalRow.status == expected_status]
        if expected_status == APPROVAL_PENDING:
            values.update(decided_by=decided_by, decided_at=now)
            if new_status != APPROVAL_EXPIRED:
                conditions.append(ApprovalRow.expires_at > now)
        statement = update(ApprovalRow).where(*conditions).values(**values)
        with self._db.session() as session:
            return _affected(session, statement) == 1

    def pending(self, *, now: datetime | None = None) -> list[Approval]:
        """Requests still waiting, oldest first (those already past expiry left out when `now` given)."""
        query = select(ApprovalRow).where(ApprovalRow.status == APPROVAL_PENDING)
        if now is not None:
            query = query.where(ApprovalRow.expires_at > now)
        with self._db.session() as session:
            return [_to_approval(row) for row in session.scalars(query.order_by(ApprovalRow.created_at))]

    def approved_before(self, cutoff: datetime) -> list[Approval]:
        """Requests approved before `cutoff`, neither carried out nor failed: what the sweep completes."""
        query = select(ApprovalRow).where(
            ApprovalRow.status == APPROVAL_APPROVED, ApprovalRow.decided_at <= cutoff
        )
        with self._db.session() as session:
            return [_to_approval(row) for row in session.scalars(query.order_by(ApprovalRow.decided_at))]

    def expire_due(self, now: datetime) -> list[Approval]:
        """Close every pending request past its expiry; return the ones this call closed.

        Each is flipped with the same conditional UPDATE as `decide`, so a request approved
        in the same instant is either approved or expired, never both, and two replicas
        sweeping at once each report a request at most once (to remove its buttons once).
        """
        query = select(ApprovalRow.id).where(
            ApprovalRow.status == APPROVAL_PENDING, ApprovalRow.expires_at <= now
        )
        with self._db.session() as session:
            due = list(session.scalars(query))
        closed = []
        for approval_id in due:
            if self.decide(approval_id, new_status=APPROVAL_EXPIRED, decided_by=None, now=now):
                approval = self.get(approval_id)
                if approval is not None:
                    closed.append(approval)
        return closed


class EventDedup:
    """Remembers Slack event ids and envelope ids so a redelivered event is handled once.

    bolt drops Socket Mode's `retry_attempt`, so the bot cannot tell a redelivery from a new
    event except by its id; a primary-key insert decides atomically across replicas.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def first_time(self, key: str, now: datetime) -> bool:
        """True the first time `key` is seen, False for every later call (any replica)."""
        try:
            with self._db.session() as session:
                session.add(ProcessedEventRow(key=_clip(key, 255), seen_at=now))
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return False
            raise
        return True

    def prune(self, *, older_than: datetime) -> int:
        """Forget keys seen before `older_than` (Slack stops redelivering after minutes)."""
        statement = delete(ProcessedEventRow).where(ProcessedEventRow.seen_at < older_than)
        with self._db.session() as session:
            return _affected(session, statement)


class ScheduleRepo:
    """Schedules added from Slack (`schedule add/list/remove`)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        *,
        name: str,
        kind: str,
        cron: str,
        channel_id: str,
        created_by: str,
        now: datetime,
        timezone: str = "UTC",
        cluster: str | None = None,
        template: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Schedule | None:
        """Store a schedule; None when the name is already taken (names are unique)."""
        row = ScheduleRow(
            name=name,
            kind=kind,
            cron=cron,
            timezone=timezone,
            channel_id=channel_id,
            cluster=cluster,
            template=template,
            parameters=dict(parameters or {}),
            created_by=created_by,
            created_at=now,
        )
        try:
            with self._db.session() as session:
                session.add(row)
                session.flush()
                return _to_schedule(row)
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                return None
            raise

    def get(self, name: str) -> Schedule | None:
        with self._db.session() as session:
            row = session.scalars(select(ScheduleRow).where(ScheduleRow.name == name)).first()
            return _to_schedule(row) if row is not None else None

    def all(self) -> list[Schedule]:
        """Every stored schedule, by name."""
        with self._db.session() as session:
            rows = session.scalars(select(ScheduleRow).order_by(ScheduleRow.name))
            return [_to_schedule(row) for row in rows]

    def remove(self, name: str) -> bool:
        """Delete the schedule called `name`; False when there was none."""
        statement = delete(ScheduleRow).where(ScheduleRow.name == name)
        with self._db.session() as session:
            return _affected(session, statement) == 1


class OutboxRepo:
    """The Slack messages to deliver: enqueued by any replica, delivered by the leader.

    Every state change the deliverer makes is conditional on the row's status, so a row is
    marked delivered once, and a replaced edit (a new row) is never mistaken for the old one.
    """

    def __init__(self, db: Database) -> None:
        self._db = db

    def enqueue(self, entry: OutboxEntry, *, now: datetime) -> bool:
        """Store one message; False for a post whose key was already enqueued (a no-op)."""
        try:
            with self._db.session() as session:
                return enqueue_in(session, entry, now=now)
        except StorageError as exc:
            if isinstance(exc.__cause__, IntegrityError) and entry.method == OUTBOX_POST:
                return False  # another replica enqueued the same key at the same moment
            raise

    def get(self, key: str) -> OutboxMessage | None:
        with self._db.session() as session:
            row = session.scalars(select(OutboxRow).where(OutboxRow.key == key)).first()
            return _to_outbox(row) if row is not None else None

    def delivered_ts(self, key: str) -> str | None:
        """The ts Slack gave the post enqueued under `key`, once it is delivered."""
        query = select(OutboxRow.ts).where(OutboxRow.key == key, OutboxRow.status == OUTBOX_DELIVERED)
        with self._db.session() as session:
            return session.scalars(query).first()

    def due(self, *, now: datetime, limit: int = 100, exclude: Collection[int] = ()) -> list[OutboxMessage]:
        """Rows to send now, by priority then age, with their thread/target ts resolved.

        A row may carry both a key and a literal ts (a run whose parent was posted before the
        outbox existed): the literal ts is used, the key keeps the thread's order.

        A row is due when it is pending (or `sending` from an earlier life: `exclude` holds the
        rows this process is sending), its next attempt time has come, the message it replies
        to or edits is delivered, and, for a reply, no older post of the same thread is still
        undelivered (replies keep their order). An edit of a parent does not wait for its
        thread's replies: the parent's final state goes on the workspace's `chat.update` budget
        as soon as it allows, whatever the channel's post budget lets through.
        """
        thread = aliased(OutboxRow)
        target = aliased(OutboxRow)
        earlier = aliased(OutboxRow)
        blocked = (
            exists()
            .where(
                earlier.method == OUTBOX_POST,
                earlier.thread_key == OutboxRow.thread_key,
                earlier.status.in_((OUTBOX_PENDING, OUTBOX_SENDING)),
                earlier.id < OutboxRow.id,
            )
            .correlate(OutboxRow)
        )
        query = (
            select(OutboxRow, thread.ts, target.ts)
            .outerjoin(thread, thread.key == OutboxRow.thread_key)
            .outerjoin(target, target.key == OutboxRow.target_key)
            .where(
                OutboxRow.status.in_((OUTBOX_PENDING, OUTBOX_SENDING)),
                OutboxRow.next_attempt_at <= now,
                # a literal ts wins over the key, which then only orders the thread
                or_(
                    OutboxRow.thread_key.is_(None),
                    OutboxRow.thread_ts.is_not(None),
                    thread.status == OUTBOX_DELIVERED,
                ),
                or_(
                    OutboxRow.target_key.is_(None),
                    OutboxRow.target_ts.is_not(None),
                    target.status == OUTBOX_DELIVERED,
                ),
                ~blocked,
            )
            .order_by(OutboxRow.priority, OutboxRow.id)
            .limit(_limit(limit))
        )
        if exclude:
            query = query.where(OutboxRow.id.not_in(list(exclude)))
        with self._db.session() as session:
            return [
                _to_outbox(row, thread_ts=thread_ts, target_ts=target_ts)
                for row, thread_ts, target_ts in session.execute(query)
            ]

    def next_due_at(self) -> datetime | None:
        """When the earliest waiting row may be tried (None: nothing waits)."""
        query = select(func.min(OutboxRow.next_attempt_at)).where(
            OutboxRow.status.in_((OUTBOX_PENDING, OUTBOX_SENDING))
        )
        with self._db.session() as session:
            return session.scalars(query).first()

    def claim(self, row_id: int, *, status: str, now: datetime) -> bool:
        """Mark the row `sending` (one more attempt) if it is still in `status`; True if so.

        Written BEFORE a post goes to Slack: a row found `sending` later (after a crash) may
        have reached Slack, so it is looked up before being posted again.
        """
        statement = (
            update(OutboxRow)
            .where(OutboxRow.id == row_id, OutboxRow.status == status)
            .values(status=OUTBOX_SENDING, attempts=OutboxRow.attempts + 1, updated_at=now)
        )
        with self._db.session() as session:
            return _affected(session, statement) == 1

    def pending_edit(self, key: str) -> OutboxMessage | None:
        """The newest content waiting to replace the message `key` (its edit, keyed `edit:<key>`)."""
        query = select(OutboxRow).where(
            OutboxRow.key == edit_key(key),
            OutboxRow.method == OUTBOX_UPDATE,
            OutboxRow.target_key == key,
            OutboxRow.status == OUTBOX_PENDING,
        )
        with self._db.session() as session:
            row = session.scalars(query).first()
            return _to_outbox(row) if row is not None else None

    def pending_edits(self, keys: Collection[str]) -> dict[str, OutboxMessage]:
        """`pending_edit` for several messages in one query: message key -> its waiting edit."""
        if not keys:
            return {}
        query = select(OutboxRow).where(
            OutboxRow.key.in_([edit_key(key) for key in keys]),
            OutboxRow.method == OUTBOX_UPDATE,
            OutboxRow.status == OUTBOX_PENDING,
        )
        with self._db.session() as session:
            found = [_to_outbox(row) for row in session.scalars(query)]
        return {
            edit.target_key: edit for edit in found if edit.target_key is not None and edit.target_key in keys
        }

    def settle_edit(self, edit: OutboxMessage, *, ts: str | None, now: datetime) -> bool:
        """`edit` went out as the content of its message's first post: nothing left to send.

        False when it was replaced meanwhile: newer content is a new row, sent as an edit.
        (SQLite may give the new row the old one's id, so its creation time and text must
        match too.)
        """
        statement = (
            update(OutboxRow)
            .where(
                OutboxRow.id == edit.id,
                OutboxRow.status == OUTBOX_PENDING,
                OutboxRow.created_at == edit.created_at,
                OutboxRow.text == edit.text,
            )
            .values(status=OUTBOX_DELIVERED, ts=ts, last_error="carried by the post", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        with self._db.session() as session:
            return _affected(session, statement) == 1

    def mark_delivered(self, row_id: int, *, ts: str | None, now: datetime) -> bool:
        """Slack confirmed the row; a `parent:<run_id>` post also sets the run's `parent_ts`, atomically."""
        with self._db.session() as session:
            row = session.get(OutboxRow, row_id)
            if row is None or row.status != OUTBOX_SENDING:
                return False
            changed = _affected(
                session,
                update(OutboxRow)
                .where(OutboxRow.id == row_id, OutboxRow.status == OUTBOX_SENDING)
                .values(status=OUTBOX_DELIVERED, ts=ts, last_error="", updated_at=now),
            )
            if changed != 1:
                return False
            if row.method == OUTBOX_POST and ts and row.key.startswith(PARENT_KEY_PREFIX):
                run_id = row.run_id or row.key.removeprefix(PARENT_KEY_PREFIX)
                session.execute(
                    update(RunRow)
                    .where(RunRow.id == run_id, RunRow.parent_ts.is_(None))
                    .values(parent_ts=ts, updated_at=now)
                )
            return True

    def retry_later(self, row_id: int, *, status: str, error: str, at: datetime, now: datetime) -> bool:
        """Put a `sending` row back for another attempt at `at` (`status`: pending, or sending
        when the outcome of the last post is unknown and must be looked up first)."""
        statement = (
            update(OutboxRow)
            .where(OutboxRow.id == row_id, OutboxRow.status == OUTBOX_SENDING)
            .values(status=status, last_error=_clip(error, SHORT_MAX), next_attempt_at=at, updated_at=now)
        )
        with self._db.session() as session:
            return _affected(session, statement) == 1

    def mark_failed(self, row_id: int, *, error: str, now: datetime) -> int:
        """Give up on a row Slack refused for good, and on the rows that wait for it; how many."""
        with self._db.session() as session:
            row = session.get(OutboxRow, row_id)
            if row is None or row.status in (OUTBOX_DELIVERED, OUTBOX_FAILED):
                return 0
            row.status = OUTBOX_FAILED
            row.last_error = _clip(error, SHORT_MAX)
            row.updated_at = now
            failed = 1
            keys = [row.key]
            while keys:  # what replies to or edits a failed message cannot be sent either
                waiting = list(
                    session.scalars(
                        select(OutboxRow).where(
                            or_(OutboxRow.thread_key.in_(keys), OutboxRow.target_key.in_(keys)),
                            OutboxRow.status == OUTBOX_PENDING,
                        )
                    )
                )
                keys = []
                for child in waiting:
                    child.status = OUTBOX_FAILED
                    child.last_error = _clip(f"waits on {row.key}, which failed", SHORT_MAX)
                    child.updated_at = now
                    keys.append(child.key)
                    failed += 1
            return failed

    def mark_skipped(self, row_id: int, *, reason: str, now: datetime) -> bool:
        """An intermediate edit the pacer did not send (the budget was short): it is done, unsent."""
        statement = (
            update(OutboxRow)
            .where(OutboxRow.id == row_id, OutboxRow.status == OUTBOX_SENDING)
            .values(status=OUTBOX_SKIPPED, last_error=_clip(reason, SHORT_MAX), updated_at=now)
        )
        with self._db.session() as session:
            return _affected(session, statement) == 1

    def supersede_progress(self, *, now: datetime, progress_from: int, final_up_to: int, backlog: int) -> int:
        """Skip the progress replies a final reply of their thread makes stale, where posts pile up.

        A pending post of priority `progress_from` or more (a step started or succeeded) is
        marked skipped when a post of priority `final_up_to` or less (the run's summary, which
        lists every step) waits behind it in the same thread, and its channel has more than
        `backlog` posts waiting. Replies that report failures (lower numbers) always go. Returns
        how many were skipped.
        """
        final = aliased(OutboxRow)
        crowded = (
            select(OutboxRow.channel_id)
            .where(OutboxRow.method == OUTBOX_POST, OutboxRow.status.in_((OUTBOX_PENDING, OUTBOX_SENDING)))
            .group_by(OutboxRow.channel_id)
            .having(func.count(OutboxRow.id) > backlog)
        )
        with self._db.session() as session:
            channels = list(session.scalars(crowded))
            if not channels:
                return 0
            stale = (
                exists()
                .where(
                    final.thread_key == OutboxRow.thread_key,
                    final.method == OUTBOX_POST,
                    final.priority <= final_up_to,
                    final.status.in_((OUTBOX_PENDING, OUTBOX_SENDING)),
                    final.id > OutboxRow.id,
                )
                .correlate(OutboxRow)
            )
            statement = (
                update(OutboxRow)
                .where(
                    OutboxRow.status == OUTBOX_PENDING,
                    OutboxRow.method == OUTBOX_POST,
                    OutboxRow.thread_key.is_not(None),
                    OutboxRow.priority >= progress_from,
                    OutboxRow.channel_id.in_(channels),
                    stale,
                )
                .values(status=OUTBOX_SKIPPED, last_error="superseded by the final reply", updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return _affected(session, statement)

    def prune(self, *, older_than: datetime) -> int:
        """Forget rows done with (delivered, skipped, failed) before `older_than`; how many.

        Only rows of runs whose final was enqueued (or of no run: answers, cards): a running
        run's parent stays, because its next reply finds the parent's ts through it.
        """
        finished = select(RunRow.id).where(RunRow.final_posted.is_(True))
        statement = delete(OutboxRow).where(
            OutboxRow.status.in_((OUTBOX_DELIVERED, OUTBOX_SKIPPED, OUTBOX_FAILED)),
            OutboxRow.updated_at < older_than,
            or_(OutboxRow.run_id.is_(None), OutboxRow.run_id.in_(finished)),
        )
        with self._db.session() as session:
            return _affected(session, statement)

    def backlog(self) -> tuple[int, datetime | None]:
        """Rows not delivered yet (pending or sending), and when the oldest was enqueued."""
        query = select(func.count(OutboxRow.id), func.min(OutboxRow.created_at)).where(
            OutboxRow.status.in_((OUTBOX_PENDING, OUTBOX_SENDING))
        )
        with self._db.session() as session:
            count, oldest = session.execute(query).one()
        if oldest is not None and oldest.tzinfo is None:  # min() bypasses the column type on SQLite
            oldest = oldest.replace(tzinfo=UTC)
        return int(count), oldest

    def for_run(self, run_id: str) -> list[OutboxMessage]:
        """A run's rows, oldest first (tests and diagnostics)."""
        query = select(OutboxRow).where(OutboxRow.run_id == run_id).order_by(OutboxRow.id)
        with self._db.session() as session:
            return [_to_outbox(row) for row in session.scalars(query)]
