"""Initial schema: audit_events, runs, approvals, processed_events, schedules.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.types import JsonText, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(length=32), nullable=False),
        sa.Column("actor_name", sa.String(length=255), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("command", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("resource", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object", sa.String(length=512), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_actor_id_at", "audit_events", ["actor_id", "at"])

    op.create_table(
        "runs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("cluster", sa.String(length=63), nullable=False),
        sa.Column("namespace", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=True),
        sa.Column("template", sa.String(length=253), nullable=True),
        sa.Column("parameters", JsonText(), nullable=False),
        sa.Column("revision", sa.String(length=255), nullable=True),
        sa.Column("requester_id", sa.String(length=32), nullable=False),
        sa.Column("requester_name", sa.String(length=255), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("parent_ts", sa.String(length=32), nullable=True),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("progress", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("final_posted", sa.Boolean(), nullable=False),
        sa.Column("resource_version", sa.String(length=64), nullable=True),
        sa.Column("k8s_uid", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.UniqueConstraint(
            "cluster", "namespace", "kind", "name", name="uq_runs_cluster_namespace_kind_name"
        ),
    )
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
    op.create_index("ix_runs_final_posted", "runs", ["final_posted"])
    op.create_index("ix_runs_requester_id", "runs", ["requester_id"])

    op.create_table(
        "approvals",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("cluster", sa.String(length=63), nullable=False),
        sa.Column("project", sa.String(length=253), nullable=False),
        sa.Column("app", sa.String(length=253), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("from_revision", sa.String(length=255), nullable=False),
        sa.Column("to_revision", sa.String(length=255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requester_id", sa.String(length=32), nullable=False),
        sa.Column("requester_name", sa.String(length=255), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=32), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_approvals"),
    )
    op.create_index("ix_approvals_status_expires_at", "approvals", ["status", "expires_at"])

    op.create_table(
        "processed_events",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_processed_events"),
    )
    op.create_index("ix_processed_events_seen_at", "processed_events", ["seen_at"])

    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("cron", sa.String(length=128), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("cluster", sa.String(length=63), nullable=True),
        sa.Column("template", sa.String(length=253), nullable=True),
        sa.Column("parameters", JsonText(), nullable=False),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.UniqueConstraint("name", name="uq_schedules_name"),
    )


def downgrade() -> None:
    op.drop_table("schedules")
    op.drop_index("ix_processed_events_seen_at", table_name="processed_events")
    op.drop_table("processed_events")
    op.drop_index("ix_approvals_status_expires_at", table_name="approvals")
    op.drop_table("approvals")
    op.drop_index("ix_runs_requester_id", table_name="runs")
    op.drop_index("ix_runs_final_posted", table_name="runs")
    op.drop_index("ix_runs_created_at", table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_audit_events_actor_id_at", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
