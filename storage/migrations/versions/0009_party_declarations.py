"""Party membership declarations (亮身份): one per rider, for the community party
organisation to verify. A table of its own, so the case tables never hold party status.

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "party_declarations",
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("standing", sa.String(length=16), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("year_joined", sa.Integer(), nullable=False),
        sa.Column("community_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("consent_version", sa.String(length=32), nullable=False),
        sa.Column("consented_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", _ID, nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("show_badge", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_party_declarations_account_id_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["regions.id"],
            name=op.f("fk_party_declarations_community_id_regions"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["accounts.id"],
            name=op.f("fk_party_declarations_decided_by_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_party_declarations")),
    )
    op.create_index(
        op.f("ix_party_declarations_community_id"), "party_declarations", ["community_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_party_declarations_community_id"), table_name="party_declarations")
    op.drop_table("party_declarations")
