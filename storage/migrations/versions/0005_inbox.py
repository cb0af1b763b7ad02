"""The inbox: received updates, stored before they are confirmed to Telegram.

Polling asks for the next offset, and the webhook answers 200, only once the update is a
row here; a worker handles the rows in arrival order per user and deletes them, or keeps
one that kept failing as dead, with the reason.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("update_id", sa.String(64), nullable=False),
        sa.Column("user_key", sa.String(64), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
        sa.UniqueConstraint("platform", "update_id", name="uq_inbox_platform_update_id"),
    )
    op.create_index("ix_inbox_state_user", "inbox", ["state", "user_key", "id"])


def downgrade() -> None:
    op.drop_index("ix_inbox_state_user", table_name="inbox")
    op.drop_table("inbox")
