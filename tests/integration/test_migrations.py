"""Alembic revisions on both backends: the stairway, and head equal to the models."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from storage import migrate
from storage.database import create_engine
from storage.models import Base

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
