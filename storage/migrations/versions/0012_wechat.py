"""WeChat: the shared access_token and each user's last numbered menu.

New tables: wechat_tokens (one row per appid, with a compare-and-set refresh lock) and
wechat_menus (the options a typed number answers, per openid).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 16:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "wechat_tokens",
        sa.Column("appid", sa.String(64), nullable=False),
        sa.Column("token", sa.String(1024), nullable=True),
        sa.Column("expires_at", _WHEN, nullable=True),
        sa.Column("refreshing_until", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("appid", name=op.f("pk_wechat_tokens")),
    )
    op.create_table(
        "wechat_menus",
        sa.Column("openid", sa.String(128), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("sent_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("openid", name=op.f("pk_wechat_menus")),
    )


def downgrade() -> None:
    op.drop_table("wechat_menus")
    op.drop_table("wechat_tokens")
