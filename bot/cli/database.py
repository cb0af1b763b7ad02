"""The database as the command line uses it: brought to the newest schema, opened for one
command, closed after. Every ``gridsnap`` group that touches data goes through here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.services.ports import BaseUnitOfWork

T = TypeVar("T")
UowFactory = Callable[[], BaseUnitOfWork]


async def with_database(url: str, work: Callable[[UowFactory], Awaitable[T]]) -> T:
    """Migrate ``url`` to head if needed, then run ``work`` with a unit-of-work factory."""
    from storage import migrate
    from storage.database import create_engine, create_session_factory
    from storage.uow import SqlUnitOfWork

    if await migrate.current(url) != migrate.head():
        await migrate.upgrade_async(url)
    engine = create_engine(url)
    try:
        sessions = create_session_factory(engine)
        return await work(lambda: SqlUnitOfWork(session_factory=sessions))
    finally:
        await engine.dispose()


async def in_unit(
    url: str, work: Callable[[BaseUnitOfWork], Awaitable[T]], *, commit: bool = False
) -> T:
    """Run ``work`` in one unit of work; commit it only when asked."""

    async def one_unit(factory: UowFactory) -> T:
        async with factory() as uow:
            result = await work(uow)
            if commit:
                await uow.commit()
            return result

    return await with_database(url, one_unit)
