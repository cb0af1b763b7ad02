"""Several bot processes on one database: who is alive, and who holds an inbox lease.

``instances``: one row per running ``gridsnap run`` process, its heartbeat ``seen_at``
written every second or so. A lease (inbox ``leased_by``, outbox ``locked_by``) whose
holder has not been seen for a few seconds is taken over at once instead of after its
60 s, and the live count splits the bot's overall send rate between the processes.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("seen_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_instances"),
    )
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("leased_by", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("leased_by")
    op.drop_table("instances")
