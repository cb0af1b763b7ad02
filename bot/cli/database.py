"""The database as the command line uses it: brought to the newest schema, opened for one
command, closed after. Every ``gridsnap`` group that touches data goes through here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.services.ports import BaseUnitOfWork, StorageError

T = TypeVar("T")
UowFactory = Callable[[], BaseUnitOfWork]


class DatabaseUnreachable(StorageError):
    """GRIDSNAP_DATABASE_URL is well formed, but no database can be opened there: a server
    that is down, a wrong password, an unwritable file. Not a ``ConfigError`` (exit 2): the
    same URL may work in a minute, so commands fail with exit 1."""


async def ensure_reachable(url: str) -> None:
    """Open and close one connection, so a database that is down, a wrong password or an
    unwritable file is one line naming the setting, not a traceback from a migration."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    try:
        await _connect_once(url)
    # TypeError, ValueError: a URL option the driver cannot take, past the settings' check.
    except (OSError, SQLAlchemyError, TypeError, ValueError) as exc:
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        where = make_url(url).render_as_string(hide_password=True)
        first_line = (str(reason).strip() or type(reason).__name__).splitlines()[0]
        raise DatabaseUnreachable(
            f"GRIDSNAP_DATABASE_URL: cannot open {where}: {first_line}"
        ) from None


async def _connect_once(url: str) -> None:
    from sqlalchemy.pool import NullPool

    from storage.database import create_engine

    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect():
            pass
    finally:
        await engine.dispose()


async def with_database(url: str, work: Callable[[UowFactory], Awaitable[T]]) -> T:
    """Migrate ``url`` to head if needed, then run ``work`` with a unit-of-work factory.

    Raises ``DatabaseUnreachable`` when nothing can be opened at ``url``.
    """
    from storage import migrate
    from storage.database import create_engine, create_session_factory
    from storage.uow import SqlUnitOfWork

    await ensure_reachable(url)
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
