"""App conditions per subscribed channel (health episodes, flapping, lasting OutOfSync), and
workflow subscriptions by namespace and label selector.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.types import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_conditions",
        sa.Column("channel_id", sa.String(length=32), nullable=False),
        sa.Column("app_key", sa.String(length=300), nullable=False),
        sa.Column("health", sa.String(length=32), nullable=False),
        sa.Column("health_changed_at", UtcDateTime(), nullable=True),
        sa.Column("episode_started_at", UtcDateTime(), nullable=True),
        sa.Column("episode_count", sa.Integer(), nullable=False),
        sa.Column("episode_notified", sa.Boolean(), nullable=False),
        sa.Column("recent_episodes", sa.String(length=1000), nullable=False),
        sa.Column("flapping_since", UtcDateTime(), nullable=True),
        sa.Column("flapping_episodes", sa.Integer(), nullable=False),
        sa.Column("out_of_sync_since", UtcDateTime(), nullable=True),
        sa.Column("out_of_sync_notified", sa.Boolean(), nullable=False),
        sa.Column("drift_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", "app_key", name="pk_app_conditions"),
    )
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("namespace", sa.String(length=63), nullable=True))
        batch.add_column(sa.Column("selector", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("selector")
        batch.drop_column("namespace")
    op.drop_table("app_conditions")
