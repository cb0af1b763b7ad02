"""The outbox knows replies from pushes, counts failed tries, names a lease's holder, and
is purged of settled rows.

* ``reply``: written by the person's own update into their own chat; sent without the
  per-chat pacing.
* ``failures``: tries that failed; a row is given up after GRIDSNAP_SEND_MAX_ATTEMPTS of
  them instead of blocking its chat forever.
* ``locked_by``: the bot instance holding the lease, so a restarted instance takes back
  its own leases at once.
* ``ix_outbox_state_created``: settled rows older than GRIDSNAP_OUTBOX_KEEP_DAYS are
  deleted hourly.

Existing rows are pushes with no counted failures and no known holder.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("locked_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("reply", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_outbox_state_created", ["state", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_state_created")
        batch.drop_column("reply")
        batch.drop_column("failures")
        batch.drop_column("locked_by")
