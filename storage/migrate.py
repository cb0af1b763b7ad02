"""Schema migrations callable from code: the app and the CLI bring any database to head.

Several processes may start at once on a fresh database (a deploy of N workers, ``gridsnap
run`` beside ``gridsnap map import``). Each migration therefore runs in one transaction that
first takes a lock: on PostgreSQL a transaction-level advisory lock, on SQLite the write lock
(BEGIN EXCLUSIVE). The others wait, then find the schema at head and do nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from storage.database import create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock's key: b"gridsnap" read as a number, unlikely to meet another's.
ADVISORY_LOCK_KEY = int.from_bytes(b"gridsnap", "big")
# How long a SQLite migration waits for another process's (the app's units wait 10 s).
SQLITE_MIGRATION_WAIT_MS = 10 * 60 * 1000


def config(url: str) -> Config:
    # Built in code, not read from alembic.ini, so an installed package can migrate too;
    # the URL travels in attributes because ini interpolation would mangle '%' in passwords.
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking; not from inside a running event loop (use ``upgrade_async`` there)."""
    asyncio.run(upgrade_async(url, revision))


def downgrade(url: str, revision: str) -> None:
    asyncio.run(_locked(url, command.downgrade, revision))


async def upgrade_async(url: str, revision: str = "head") -> None:
    """For an async composition root: runs the same migrations on a connection it opens."""
    await _locked(url, command.upgrade, revision)


async def _locked(url: str, step: Callable[[Config, str], None], revision: str) -> None:
    """Run ``step`` in one transaction that holds the migration lock until it commits."""
    engine = create_engine(
        url,
        foreign_keys=False,
        poolclass=NullPool,
        sqlite_begin="BEGIN EXCLUSIVE",
        sqlite_busy_timeout_ms=SQLITE_MIGRATION_WAIT_MS,
    )
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Released by the commit; PostgreSQL's DDL is transactional, so a waiter
                # sees the whole schema or none of it.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            await connection.run_sync(_step_on, url, step, revision)
    finally:
        await engine.dispose()


def _step_on(
    connection: Connection, url: str, step: Callable[[Config, str], None], revision: str
) -> None:
    cfg = config(url)
    cfg.attributes["connection"] = connection
    step(cfg, revision)


async def current(url: str) -> str | None:
    """The revision the database is at; None when it was never migrated."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
    finally:
        await engine.dispose()


def head() -> str:
    head = ScriptDirectory.from_config(config("")).get_current_head()
    assert head is not None  # the initial revision always exists
    return head
