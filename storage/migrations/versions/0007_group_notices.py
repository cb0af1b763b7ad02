"""Group chats: the one "talk to me privately" each group gets is remembered, and accounts a
group message had repointed to that group get their private chat back.

Until this revision any message in a group set the sender's account chat to the group, so
/mydata, status pushes and worker alerts went there. On Telegram a person's private chat
with a bot has the person's own id, so such accounts are pointed back at it.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

# Only group chats (negative ids on Telegram) are repointed; an account erased by /deletedata
# ("deleted:N", no chat) keeps no chat, or pushes would be queued to it.
_BACK_TO_PRIVATE = sa.text(
    "UPDATE accounts SET chat_id = platform_user_id "
    "WHERE platform = 'telegram' AND chat_id <> platform_user_id AND chat_id <> '' "
    "AND chat_id LIKE '-%' AND platform_user_id NOT LIKE 'deleted:%'"
)


def upgrade() -> None:
    op.create_table(
        "group_notices",
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("chat_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "chat_id", name=op.f("pk_group_notices")),
    )
    op.execute(_BACK_TO_PRIVATE)


def downgrade() -> None:
    # The repointing is not undone: sending someone's data to a group was the bug.
    op.drop_table("group_notices")
