"""ORM tables (SQLAlchemy 2 typed declarative models).

Only `repos` and the migrations use these classes; everything else sees the frozen
dataclasses of `records`. Lengths are explicit because MySQL needs them for VARCHAR and
indexes (utf8mb4: at most 3072 bytes per index). A change here needs a new migration:
`tests/store/test_store_schema.py` fails when the two disagree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.store.types import JsonText, UtcDateTime

# Fixed constraint and index names, so every backend (and every migration) agrees on them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AUDIT_TEXT_MAX = 2000
SHORT_MAX = 500


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AuditEventRow(Base):
    """One command or decision: who, where, what was asked, what the policy said, what happened."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_at", "at"),
        Index("ix_audit_events_actor_id_at", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor_id: Mapped[str] = mapped_column(String(32))
    actor_name: Mapped[str] = mapped_column(String(255), default="")
    channel_id: Mapped[str] = mapped_column(String(32), default="")
    command: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    resource: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), default="")
    object: Mapped[str] = mapped_column(String(512), default="")
    decision: Mapped[str] = mapped_column(String(16), default="none")
    result: Mapped[str] = mapped_column(String(16), default="")
    detail: Mapped[str] = mapped_column(String(SHORT_MAX), default="")
    reference: Mapped[str] = mapped_column(String(64), default="")
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class RunRow(Base):
    """A workflow, sync or rollback the bot started, and where its Slack thread lives."""

    __tablename__ = "runs"
    __table_args__ = (
        # NULLs are distinct in unique constraints on every backend, so this only binds named runs.
        UniqueConstraint("cluster", "namespace", "kind", "name", name="uq_runs_cluster_namespace_kind_name"),
        Index("ix_runs_final_posted", "final_posted"),
        Index("ix_runs_created_at", "created_at"),
        Index("ix_runs_requester_id", "requester_id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    cluster: Mapped[str] = mapped_column(String(63))
    namespace: Mapped[str] = mapped_column(String(63))
    name: Mapped[str | None] = mapped_column(String(253), nullable=True)
    template: Mapped[str | None] = mapped_column(String(253), nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonText(), default=dict)
    revision: Mapped[str | None] = mapped_column(String(255), nullable=True)
    requester_id: Mapped[str] = mapped_column(String(32))
    requester_name: Mapped[str] = mapped_column(String(255), default="")
    channel_id: Mapped[str] = mapped_column(String(32))
    parent_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    phase: Mapped[str] = mapped_column(String(32), default="Pending")
    progress: Mapped[str] = mapped_column(String(32), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    final_posted: Mapped[bool] = mapped_column(Boolean, default=False)
    resource_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    k8s_uid: Mapped[str | None] = mapped_column(String(64), nullable=True)


class ApprovalRow(Base):
    """A request for an action (rollback, guarded sync) that waits for a second person."""

    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_status_expires_at", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    action: Mapped[str] = mapped_column(String(32))
    cluster: Mapped[str] = mapped_column(String(63))
    project: Mapped[str] = mapped_column(String(253), default="")
    app: Mapped[str] = mapped_column(String(253))
    target: Mapped[str] = mapped_column(String(255), default="")
    from_revision: Mapped[str] = mapped_column(String(255), default="")
    to_revision: Mapped[str] = mapped_column(String(255), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    requester_id: Mapped[str] = mapped_column(String(32))
    requester_name: Mapped[str] = mapped_column(String(255), default="")
    channel_id: Mapped[str] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    required_approvals: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    approvers: Mapped[str] = mapped_column(String(1000), default="", server_default="")


class ApprovalVoteRow(Base):
    """One person's Approve on a request that needs several (one row each, so a vote counts once)."""

    __tablename__ = "approval_votes"

    approval_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(255), default="")
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class ProcessedEventRow(Base):
    """A Slack event or envelope already handled; its primary key makes a redelivery a no-op."""

    __tablename__ = "processed_events"
    __table_args__ = (Index("ix_processed_events_seen_at", "seen_at"),)

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime())


class OutboxRow(Base):
    """One Slack message (a post or an edit) to deliver, kept until Slack confirmed it.

    `key` is unique (255 characters: utf8mb4 fits MySQL's 3072-byte index limit). A post's
    `thread_key`/an edit's `target_key` name the row whose delivered `ts` it needs; such a row
    is not due before that one is delivered. `ts` is what Slack answered for a delivered post.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("key", name="uq_outbox_key"),
        Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_thread_key", "thread_key"),
        Index("ix_outbox_run_id", "run_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    channel_id: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text, default="")
    blocks: Mapped[list[Any] | None] = mapped_column(JsonText(), nullable=True)
    thread_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    thread_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    target_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    priority: Mapped[int] = mapped_column(Integer, default=30)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime())
    last_error: Mapped[str] = mapped_column(String(SHORT_MAX), default="")
    ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    run_id: Mapped[str | None] = mapped_column(String(36), nullable=True)


class ScheduleRow(Base):
    """A scheduled notification post added from Slack (`schedule add`)."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("name", name="uq_schedules_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(32))
    cron: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    channel_id: Mapped[str] = mapped_column(String(32))
    cluster: Mapped[str | None] = mapped_column(String(63), nullable=True)
    template: Mapped[str | None] = mapped_column(String(253), nullable=True)
    parameters: Mapped[dict[str, Any]] = mapped_column(JsonText(), default=dict)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class SubscriptionRow(Base):
    """A channel's subscription added from Slack (`subscribe`); config-file ones are not stored."""

    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_channel_id", "channel_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(253))
    project: Mapped[str | None] = mapped_column(String(253), nullable=True)
    cluster: Mapped[str | None] = mapped_column(String(63), nullable=True)
    triggers: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    source: Mapped[str] = mapped_column(String(16), default="command")
    namespace: Mapped[str | None] = mapped_column(String(63), nullable=True)
    selector: Mapped[str | None] = mapped_column(String(255), nullable=True)


class AppConditionRow(Base):
    """What one subscribed channel was last told about one app outside its syncs (`bot.conditions`)."""

    __tablename__ = "app_conditions"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    health: Mapped[str] = mapped_column(String(32))
    health_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    episode_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    episode_count: Mapped[int] = mapped_column(Integer, default=0)
    episode_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    recent_episodes: Mapped[str] = mapped_column(String(1000), default="")
    flapping_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    flapping_episodes: Mapped[int] = mapped_column(Integer, default=0)
    out_of_sync_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    out_of_sync_notified: Mapped[bool] = mapped_column(Boolean, default=False)
    drift_count: Mapped[int] = mapped_column(Integer, default=0)


def is_owned(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic `include_object` hook: compare only our tables.

    Other tables in the same database (APScheduler's `apscheduler_jobs`, alembic's own
    version table) are not ours, so autogenerate must neither drop nor report them.
    """
    del obj
    if type_ == "table" and reflected and compare_to is None:
        return name in Base.metadata.tables
    return True
