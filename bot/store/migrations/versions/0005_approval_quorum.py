"""Approvals with a quorum: how many approvals a request needs, from whom, and each vote.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.store.types import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("required_approvals", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("approvers", sa.String(length=1000), nullable=False, server_default=""))
    op.create_table(
        "approval_votes",
        sa.Column("approval_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("user_name", sa.String(length=255), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("approval_id", "user_id", name="pk_approval_votes"),
    )


def downgrade() -> None:
    op.drop_table("approval_votes")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("approvers")
        batch.drop_column("required_approvals")
