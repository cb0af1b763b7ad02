"""The async engine and session factory, built by the composition root from the URL."""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

# How long a SQLite writer waits for another before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 10_000

_writer_turns: weakref.WeakKeyDictionary[
    Engine, weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]
] = weakref.WeakKeyDictionary()


def create_engine(
    url: str,
    *,
    foreign_keys: bool = True,
    sqlite_begin: str = "BEGIN IMMEDIATE",
    sqlite_busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine for ``url``; for SQLite also WAL, foreign keys and serial writers.

    ``foreign_keys=False`` is for migrations: SQLite batch operations recreate tables,
    and with enforcement on, dropping the old copy would cascade into referencing rows.
    Migrations also begin EXCLUSIVE and wait longer for the lock (``storage.migrate``).
    A SQLite file in a folder that does not exist is refused (``FileNotFoundError``).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        parsed, kwargs = _connect_timeout_as_argument(parsed, kwargs)
        return _create_async_engine(parsed, **kwargs)
    _refuse_missing_folder(parsed)
    # sqlite3's own wait (seconds) covers the journal_mode pragma run before busy_timeout.
    connect_args = {"timeout": sqlite_busy_timeout_ms / 1000, **kwargs.pop("connect_args", {})}
    engine = _create_async_engine(parsed, connect_args=connect_args, **kwargs)
    _configure_sqlite(
        engine, foreign_keys=foreign_keys, begin=sqlite_begin, busy_ms=sqlite_busy_timeout_ms
    )
    return engine


def _connect_timeout_as_argument(url: URL, kwargs: dict[str, Any]) -> tuple[URL, dict[str, Any]]:
    """libpq's ``connect_timeout`` URL option as asyncpg's ``timeout`` argument: asyncpg
    takes it only as a number, and URL options reach it as strings."""
    seconds = url.query.get("connect_timeout")
    if not isinstance(seconds, str):
        return url, kwargs
    connect_args = {**kwargs.get("connect_args", {}), "timeout": float(seconds)}
    return url.difference_update_query(["connect_timeout"]), {
        **kwargs,
        "connect_args": connect_args,
    }


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: repositories return dataclasses, but a flush after commit
    # must not trigger lazy loads on rows the caller still holds.
    return async_sessionmaker(engine, expire_on_commit=False)


def writer_turn(engine: AsyncEngine) -> asyncio.Lock | None:
    """For SQLite, the lock this process's units of work queue on; None for PostgreSQL.

    Every SQLite unit takes the single write lock (BEGIN IMMEDIATE). Left to SQLite, the
    units of one process wait in its busy handler, which polls with sleeps of up to 100 ms
    in no particular order; queued here they take turns first come, first served, and
    the next starts the moment the last commits. Other processes still meet busy_timeout.
    """
    if engine.dialect.name != "sqlite":
        return None
    by_loop = _writer_turns.setdefault(engine.sync_engine, weakref.WeakKeyDictionary())
    # One per event loop: an asyncio lock must not be shared between loops.
    return by_loop.setdefault(asyncio.get_running_loop(), asyncio.Lock())


def sqlite_file(url: str | URL) -> Path | None:
    """The file a SQLite URL names; None for PostgreSQL, memory and ``file:`` URIs."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def _refuse_missing_folder(url: URL) -> None:
    # SQLite creates a missing file, and we used to create its folder too: a mistyped path
    # then silently became a new, empty database. The folder has to be there.
    database = sqlite_file(url)
    if database is not None and not database.parent.is_dir():
        raise FileNotFoundError(f"folder {database.parent} does not exist")


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool, begin: str, busy_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver (it skips it before SELECTs), so we issue it below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a read-then-write unit can otherwise
        # fail with SQLITE_BUSY_SNAPSHOT when another writer committed in between, while
        # waiting here honours busy_timeout. Units are short, so serial writers are cheap.
        conn.exec_driver_sql(begin)
