"""Schema migrations callable from code: the app and the CLI bring any database to head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from storage.database import create_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def config(url: str) -> Config:
    # Built in code, not read from alembic.ini, so an installed package can migrate too;
    # the URL travels in attributes because ini interpolation would mangle '%' in passwords.
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Blocking; not from inside a running event loop (use ``upgrade_async`` there)."""
    command.upgrade(config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """For an async composition root: runs the same migrations on a connection it opens."""
    engine = create_engine(url, foreign_keys=False, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_on, url, revision)
    finally:
        await engine.dispose()


def _upgrade_on(connection: Connection, url: str, revision: str) -> None:
    cfg = config(url)
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


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
