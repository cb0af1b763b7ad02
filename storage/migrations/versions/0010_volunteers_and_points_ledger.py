"""Volunteer service (双报到) and one points ledger for reports and service hours.

New tables: volunteers, service_tasks, task_signups, rank_opt_outs. The points ledger gains
the task that earned a line, the community where it was earned (leaderboards are per
community and street) and who granted it. The balance becomes the ledger's sum: each
informant's stored ``points`` that its ledger lines do not account for is carried over as
one "opening_balance" line, then the column goes. Report lines get their grid's community.

Revision ID: 0010
Revises: 0004
Create Date: 2026-12-03 13:30:00
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def _id(name: str, *, nullable: bool = False) -> sa.Column[int]:
    return sa.Column(name, _ID, nullable=nullable)


def upgrade() -> None:
    _create_tables()
    with op.batch_alter_table("points_ledger") as batch:
        batch.add_column(_id("task_id", nullable=True))
        batch.add_column(_id("region_id", nullable=True))
        batch.add_column(_id("granted_by", nullable=True))
        batch.create_foreign_key(
            "fk_points_ledger_task_id_service_tasks", "service_tasks", ["task_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_points_ledger_region_id_regions", "regions", ["region_id"], ["id"]
        )
        batch.create_foreign_key(
            "fk_points_ledger_granted_by_accounts", "accounts", ["granted_by"], ["id"]
        )
        batch.create_index("ix_points_ledger_region_id", ["region_id"])
    # A report's points count for the community its grid belongs to.
    op.execute(
        "UPDATE points_ledger SET region_id = (SELECT regions.parent_id FROM reports "
        "JOIN regions ON regions.id = reports.grid_id WHERE reports.id = points_ledger.report_id) "
        "WHERE report_id IS NOT NULL"
    )
    now = sa.bindparam("now", datetime.now(UTC), type_=_WHEN)
    op.execute(
        sa.text(
            "INSERT INTO points_ledger (account_id, points, reason, report_id, at, region_id) "
            "SELECT i.account_id, i.points - COALESCE((SELECT SUM(l.points) FROM points_ledger l "
            "WHERE l.account_id = i.account_id), 0), 'opening_balance', NULL, :now, "
            "i.home_region_id FROM informants i WHERE i.points <> COALESCE((SELECT SUM(l.points) "
            "FROM points_ledger l WHERE l.account_id = i.account_id), 0)"
        ).bindparams(now)
    )
    with op.batch_alter_table("informants") as batch:
        batch.drop_column("points")


def downgrade() -> None:
    with op.batch_alter_table("informants") as batch:
        batch.add_column(sa.Column("points", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE informants SET points = COALESCE((SELECT SUM(l.points) FROM points_ledger l "
        "WHERE l.account_id = informants.account_id), 0)"
    )
    with op.batch_alter_table("informants") as batch:
        batch.alter_column("points", existing_type=sa.Integer(), nullable=False)
    # Lines that name a task cannot outlive its table; the balances above include them.
    op.execute("DELETE FROM points_ledger WHERE task_id IS NOT NULL")
    with op.batch_alter_table("points_ledger") as batch:
        batch.drop_index("ix_points_ledger_region_id")
        batch.drop_constraint("fk_points_ledger_granted_by_accounts", type_="foreignkey")
        batch.drop_constraint("fk_points_ledger_region_id_regions", type_="foreignkey")
        batch.drop_constraint("fk_points_ledger_task_id_service_tasks", type_="foreignkey")
        batch.drop_column("granted_by")
        batch.drop_column("region_id")
        batch.drop_column("task_id")
    op.drop_table("rank_opt_outs")
    op.drop_table("task_signups")
    op.drop_table("service_tasks")
    op.drop_table("volunteers")


def _create_tables() -> None:
    op.create_table(
        "volunteers",
        _id("account_id"),
        _id("community_id"),
        sa.Column("skills", sa.String(200), nullable=False),
        sa.Column("services", sa.String(100), nullable=False),
        sa.Column("slots", sa.String(100), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("decided_at", _WHEN, nullable=True),
        _id("decided_by", nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_volunteers_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["regions.id"], name="fk_volunteers_community_id_regions"
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["accounts.id"], name="fk_volunteers_decided_by_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_volunteers"),
    )
    op.create_index("ix_volunteers_community_id", "volunteers", ["community_id"])
    op.create_index("ix_volunteers_status", "volunteers", ["status"])
    op.create_table(
        "service_tasks",
        _id("id"),
        _id("community_id"),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("starts_at", _WHEN, nullable=False),
        sa.Column("ends_at", _WHEN, nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("skills", sa.String(200), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        _id("created_by"),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"], ["regions.id"], name="fk_service_tasks_community_id_regions"
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["accounts.id"], name="fk_service_tasks_created_by_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_service_tasks"),
    )
    op.create_index("ix_service_tasks_community_id", "service_tasks", ["community_id"])
    op.create_table(
        "task_signups",
        _id("id"),
        _id("task_id"),
        _id("account_id"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("signed_up_at", _WHEN, nullable=False),
        sa.Column("checked_in_at", _WHEN, nullable=True),
        sa.Column("checkin_distance_m", sa.Float(), nullable=True),
        sa.Column("hours", sa.Float(), nullable=True),
        _id("confirmed_by", nullable=True),
        sa.Column("confirmed_at", _WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["service_tasks.id"], name="fk_task_signups_task_id_service_tasks"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_task_signups_account_id_accounts"
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by"], ["accounts.id"], name="fk_task_signups_confirmed_by_accounts"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_task_signups"),
        sa.UniqueConstraint("task_id", "account_id", name="uq_task_signups_task_id_account_id"),
    )
    op.create_index("ix_task_signups_task_id", "task_signups", ["task_id"])
    op.create_index("ix_task_signups_account_id", "task_signups", ["account_id"])
    op.create_table(
        "rank_opt_outs",
        _id("account_id"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name="fk_rank_opt_outs_account_id_accounts"
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_rank_opt_outs"),
    )
