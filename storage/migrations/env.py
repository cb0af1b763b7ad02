"""Alembic environment: async engines, the app's URL, batch mode so SQLite can ALTER."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from storage.database import create_engine
from storage.models import Base

config = context.config


def _url() -> str:
    # storage.migrate passes the URL in attributes; the bare `alembic` command uses settings.
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from bot.config import load_settings

    return load_settings().database_url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    # Foreign keys off: SQLite batch operations drop and recreate referenced tables.
    engine = create_engine(_url(), foreign_keys=False, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


def _offline() -> None:
    context.configure(url=_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if context.is_offline_mode():
    _offline()
elif connection is not None:
    _run(connection)
else:
    asyncio.run(_run_async())
