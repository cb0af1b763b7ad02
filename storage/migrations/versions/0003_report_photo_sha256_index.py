"""Report photos are looked up by content key (the hourly photo-retention sweep asks which
stored files a report still refers to), so that column gets an index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_report_photos_sha256", "report_photos", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_report_photos_sha256", table_name="report_photos")
