"""Escalations remember the deadline they were for.

A reopened, transferred or re-dispatched case gets new deadlines; keying each escalation
step by ``(report, kind, level, due_at)`` lets it climb the ladder again for the new one.

Rows written before this revision are taken to be for the case's current deadline, so an
upgrade never re-sends a step that was already sent. The downgrade keeps the newest row of
each ``(report, kind, level)``, the one the old key can hold.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_BACKFILL = sa.text(
    """
    UPDATE escalations SET due_at = COALESCE(
        (SELECT CASE WHEN escalations.kind = 'ack' THEN reports.ack_due_at
                     ELSE reports.resolve_due_at END
         FROM reports WHERE reports.id = escalations.report_id),
        escalations.at)
    """
)

_DROP_OLDER_DEADLINES = sa.text(
    """
    DELETE FROM escalations WHERE EXISTS (
        SELECT 1 FROM escalations AS newer
        WHERE newer.report_id = escalations.report_id
          AND newer.kind = escalations.kind
          AND newer.level = escalations.level
          AND newer.due_at > escalations.due_at)
    """
)


def upgrade() -> None:
    # Nullable first: existing rows get their value from the backfill, then the key.
    with op.batch_alter_table("escalations") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(_BACKFILL)
    with op.batch_alter_table("escalations") as batch:
        batch.alter_column("due_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.drop_constraint("pk_escalations", type_="primary")
        batch.create_primary_key("pk_escalations", ["report_id", "kind", "level", "due_at"])


def downgrade() -> None:
    op.execute(_DROP_OLDER_DEADLINES)
    with op.batch_alter_table("escalations") as batch:
        batch.drop_constraint("pk_escalations", type_="primary")
        batch.drop_column("due_at")
        batch.create_primary_key("pk_escalations", ["report_id", "kind", "level"])
