"""Alembic revisions on both backends: the stairway, and head equal to the models."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, inspect, text
from sqlalchemy.engine import Connection

from bot.domain.model import EscalationKind, GeoPoint, Level, MapUnit, ReportStatus
from storage import migrate
from storage.database import create_engine, create_session_factory
from storage.models import Base, UtcDateTime
from storage.uow import SqlUnitOfWork
from tests.chatkit import square

REVISIONS = list(reversed(list(ScriptDirectory.from_config(migrate.config("")).walk_revisions())))


async def _on(url: str, work: Any) -> Any:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(work)
    finally:
        await engine.dispose()


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names()) - {"alembic_version"}


@pytest.mark.parametrize("revision", REVISIONS, ids=lambda r: r.revision)
def test_every_revision_upgrades_downgrades_and_upgrades_again(
    database_url: str, revision: Any
) -> None:
    # The stairway: a downgrade that forgets something makes the second upgrade fail.
    migrate.upgrade(database_url, revision.revision)
    migrate.downgrade(database_url, revision.down_revision or "base")
    migrate.upgrade(database_url, revision.revision)


async def test_an_empty_database_is_brought_to_the_newest_revision(database_url: str) -> None:
    assert await migrate.current(database_url) is None
    await migrate.upgrade_async(database_url)
    assert await migrate.current(database_url) == migrate.head()
    assert await _on(database_url, _tables) == set(Base.metadata.tables)


async def test_downgrading_to_base_removes_every_table(database_url: str) -> None:
    await migrate.upgrade_async(database_url)
    # migrate.downgrade runs its own event loop, so not on this one.
    await asyncio.to_thread(migrate.downgrade, database_url, "base")
    assert await _on(database_url, _tables) == set()


async def test_the_newest_revision_matches_the_models(database_url: str) -> None:
    await migrate.upgrade_async(database_url)

    def differences(conn: Connection) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    assert await _on(database_url, differences) == []


async def _seed_case_with_an_escalation(url: str, due: datetime, at: datetime) -> int:
    """At revision 0001: a dispatched case and its level-1 reminder, written as 0001 kept it."""
    engine = create_engine(url)
    try:
        async with SqlUnitOfWork(session_factory=create_session_factory(engine)) as uow:
            rider = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id="1",
                chat_id="1",
                display_name="r",
                locale="en",
            )
            report = await uow.reports.add(
                reporter_id=rider.id,
                category_code="0102",
                location=GeoPoint(lat=39.9, lon=119.5),
                grid_id=None,
                note="",
                status=ReportStatus.DISPATCHED,
                created_at=at,
                ack_due_at=due,
            )
            await uow.commit()
        async with engine.begin() as conn:
            insert = text(
                "INSERT INTO escalations (report_id, kind, level, at) VALUES (:r, 'ack', 1, :at)"
            ).bindparams(bindparam("at", type_=UtcDateTime()))
            await conn.execute(insert, {"r": report.id, "at": at})
        return report.id
    finally:
        await engine.dispose()


async def _escalation_times(url: str) -> list[datetime]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            query = text("SELECT at FROM escalations").columns(at=UtcDateTime())
            return list((await conn.execute(query)).scalars())
    finally:
        await engine.dispose()


async def test_escalations_from_before_0002_count_for_the_current_deadline_and_back(
    database_url: str,
) -> None:
    due = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    await migrate.upgrade_async(database_url, "0001")
    report_id = await _seed_case_with_an_escalation(database_url, due, due)
    await migrate.upgrade_async(database_url, "0002")
    engine = create_engine(database_url)
    try:
        async with SqlUnitOfWork(session_factory=create_session_factory(engine)) as uow:
            # Not sent again after the upgrade: the old row is taken as for the current deadline.
            assert await uow.escalations.done(report_id, EscalationKind.ACK, due_at=due) == {1}
            newer = due + timedelta(hours=2)
            await uow.escalations.record(report_id, EscalationKind.ACK, 1, due_at=newer, at=newer)
            await uow.commit()
    finally:
        await engine.dispose()
    await asyncio.to_thread(migrate.downgrade, database_url, "0001")
    # The old key holds one row per level: the one for the newest deadline stays.
    assert await _escalation_times(database_url) == [due + timedelta(hours=2)]


async def _seed_informant_with_points(url: str, at: datetime) -> tuple[int, int, int]:
    """At revision 0004: an informant whose stored balance is 30, of which a ledger line
    for their report (in grid G1 of community C1) accounts for 5. Returns the account, the
    report and the community ids."""
    engine = create_engine(url)
    try:
        async with SqlUnitOfWork(session_factory=create_session_factory(engine)) as uow:
            await uow.regions.replace_map(
                [
                    MapUnit(
                        code="C1",
                        name="c",
                        level=Level.COMMUNITY,
                        parent_code=None,
                        geometry=square(119.50, 0.10),
                    ),
                    MapUnit(
                        code="G1",
                        name="g",
                        level=Level.GRID,
                        parent_code="C1",
                        geometry=square(119.50, 0.05),
                    ),
                ],
                replace=True,
            )
            grid, community = await uow.regions.get("G1"), await uow.regions.get("C1")
            assert grid is not None and community is not None
            rider = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id="1",
                chat_id="1",
                display_name="r",
                locale="en",
            )
            report = await uow.reports.add(
                reporter_id=rider.id,
                category_code="0102",
                location=GeoPoint(lat=39.9, lon=119.5),
                grid_id=grid.id,
                note="",
                status=ReportStatus.ACCEPTED,
                created_at=at,
            )
            await uow.commit()
        stamp = bindparam("at", type_=UtcDateTime())
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO informants (account_id, real_name, phone, company, status, "
                    "home_region_id, created_at, points) VALUES (:a, 'w', '1', 'm', 'approved', "
                    ":c, :at, 30)"
                ).bindparams(stamp),
                {"a": rider.id, "c": community.id, "at": at},
            )
            await conn.execute(
                text(
                    "INSERT INTO points_ledger (account_id, points, reason, report_id, at) "
                    "VALUES (:a, 5, 'accept', :r, :at)"
                ).bindparams(stamp),
                {"a": rider.id, "r": report.id, "at": at},
            )
        return rider.id, report.id, community.id
    finally:
        await engine.dispose()


async def _chat_ids(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT platform_user_id, chat_id FROM accounts"))
            return {user: chat for user, chat in rows}
    finally:
        await engine.dispose()


async def test_0010_carries_stored_balances_onto_the_ledger_and_back(database_url: str) -> None:
    at = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    await migrate.upgrade_async(database_url, "0004")
    rider, report, community = await _seed_informant_with_points(database_url, at)
    await migrate.upgrade_async(database_url, "0010")
    engine = create_engine(database_url)
    try:
        async with SqlUnitOfWork(session_factory=create_session_factory(engine)) as uow:
            assert await uow.points.balance(rider) == 30
            lines = await uow.points.entries(rider)
            board = await uow.points.ranking([community])
    finally:
        await engine.dispose()
    assert sorted((e.reason, e.points, e.report_id, e.region_id) for e in lines) == [
        ("accept", 5, report, community),  # its grid's community, for the leaderboards
        ("opening_balance", 25, None, community),
    ]
    assert [(r.account_id, r.points) for r in board] == [(rider, 30)]
    await asyncio.to_thread(migrate.downgrade, database_url, "0004")

    def points(conn: Connection) -> list[Any]:
        return list(conn.execute(text("SELECT points FROM informants")).scalars())

    assert await _on(database_url, points) == [30]


async def test_0007_points_accounts_a_group_message_had_repointed_back_to_their_private_chat(
    database_url: str,
) -> None:
    await migrate.upgrade_async(database_url, "0004")
    engine = create_engine(database_url)
    try:
        async with SqlUnitOfWork(session_factory=create_session_factory(engine)) as uow:
            for user, chat in (("5550001", "-1001234567890"), ("5550002", "5550002")):
                await uow.accounts.get_or_create(
                    platform="telegram",
                    platform_user_id=user,
                    chat_id=chat,
                    display_name="r",
                    locale="en",
                )
            # Erased by /deletedata: no chat, no platform identity; it must stay so.
            erased = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id="5550003",
                chat_id="5550003",
                display_name="r",
                locale="en",
            )
            await uow.commit()
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE accounts SET platform_user_id = :user, chat_id = '' WHERE id = :id"),
                {"user": f"deleted:{erased.id}", "id": erased.id},
            )
    finally:
        await engine.dispose()
    await migrate.upgrade_async(database_url, "0007")
    assert await _chat_ids(database_url) == {
        "5550001": "5550001",
        "5550002": "5550002",
        f"deleted:{erased.id}": "",
    }
