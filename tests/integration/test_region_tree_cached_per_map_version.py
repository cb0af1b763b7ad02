"""Region ancestors come from memory per map version (storage.hierarchy): one small query a
unit of work instead of a row (with its outline) per ancestor, and a new import is seen by
the next unit. Run on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import event

from bot.domain.model import Level
from bot.services.ports import BaseUnitOfWork
from storage.database import create_engine, create_session_factory
from storage.uow import SqlUnitOfWork
from tests.storage_contract import seed_map, unit


@pytest.fixture
async def counted(
    migrated_database_url: str,
) -> AsyncIterator[tuple[Callable[[], BaseUnitOfWork], list[str]]]:
    engine = create_engine(migrated_database_url)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    factory = create_session_factory(engine)
    try:
        yield (lambda: SqlUnitOfWork(session_factory=factory)), statements
    finally:
        await engine.dispose()


async def test_ancestors_asked_again_in_later_units_read_no_region_rows(
    counted: tuple[Callable[[], BaseUnitOfWork], list[str]],
) -> None:
    make_uow, statements = counted
    nodes = await seed_map(make_uow)
    async with make_uow() as uow:
        await uow.regions.ancestors(nodes["G1"].id)  # the first unit loads the tree
    statements.clear()
    async with make_uow() as uow:
        chains = [await uow.regions.ancestors(nodes["G1"].id) for _ in range(5)]
        grid = await uow.regions.get_by_id(nodes["G2"].id)
    region_reads = [s for s in statements if "FROM regions" in s]
    assert region_reads == []
    assert [n.code for n in chains[-1]] == ["G1", "C1", "S1", "D1", "QHD"]
    assert grid is not None and grid.code == "G2"


async def test_a_grid_moved_by_a_new_import_has_its_new_ancestors_in_the_next_unit(
    counted: tuple[Callable[[], BaseUnitOfWork], list[str]],
) -> None:
    make_uow, _statements = counted
    nodes = await seed_map(make_uow)
    async with make_uow() as uow:
        before = [n.code for n in await uow.regions.ancestors(nodes["G1"].id)]
    async with make_uow() as uow:
        moved = [unit("C2", Level.COMMUNITY, "S1"), unit("G1", Level.GRID, "C2")]
        await uow.regions.replace_map(moved, replace=False)
        # In the importing unit itself the rows are read as written.
        inside = [n.code for n in await uow.regions.ancestors(nodes["G1"].id)]
        await uow.commit()
    async with make_uow() as uow:
        after = [n.code for n in await uow.regions.ancestors(nodes["G1"].id)]
        c2 = await uow.regions.get("C2")
    assert before == ["G1", "C1", "S1", "D1", "QHD"]
    assert inside == after == ["G1", "C2", "S1", "D1", "QHD"]
    assert c2 is not None and c2.level is Level.COMMUNITY
