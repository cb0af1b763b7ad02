"""Conversation states remember when they were last saved, so abandoned drafts expire.

A half-finished report keeps a rider's location and photos in the state row; the hourly
job clears a state whose flow was last saved longer ago than GRIDSNAP_DRAFT_HOURS. Rows
written before this revision get the migration time: their age is unknown, and counting
from now gives every such draft the full period instead of discarding it at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 12:00:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_STAMP = sa.text("UPDATE conversations SET updated_at = :now")


def upgrade() -> None:
    # Nullable first: existing rows get their value from the backfill, then NOT NULL.
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
    # Bound as a DateTime so each backend stores it as it stores the models' values
    # (naive UTC text on SQLite, timestamptz on PostgreSQL).
    now = sa.bindparam("now", datetime.now(UTC), type_=sa.DateTime(timezone=True))
    op.execute(_STAMP.bindparams(now))
    with op.batch_alter_table("conversations") as batch:
        batch.alter_column("updated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.create_index("ix_conversations_updated_at", ["updated_at"])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_updated_at")
        batch.drop_column("updated_at")
