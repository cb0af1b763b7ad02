"""Real databases for integration tests: every test using ``database_url`` runs twice.

``database_url`` is an empty database: a fresh SQLite file under tmp_path, or a PostgreSQL
database created once per session (named uniquely, so engineers and CI sharing a server
do not collide) whose ``public`` schema is recreated per test. ``migrated_database_url``
and ``make_uow`` give a database at the newest revision with no rows. Without a server the
PostgreSQL half is skipped with the reason, unless GRIDSNAP_TEST_REQUIRE_POSTGRES=1 (CI),
where that is a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bot.services.ports import BaseUnitOfWork
from storage import migrate
from storage.database import create_engine, create_session_factory
from storage.models import Base
from storage.uow import SqlUnitOfWork

POSTGRES_URL = os.environ.get(
    "GRIDSNAP_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("GRIDSNAP_TEST_REQUIRE_POSTGRES") == "1"

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, even while pytest-asyncio owns this thread's loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _admin(url: str, *statements: str) -> None:
    # AUTOCOMMIT: CREATE/DROP DATABASE refuse to run inside a transaction.
    engine = create_async_engine(
        url, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args={"timeout": 5}
    )
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[Callable[[str], str]]:
    """Creates uniquely named databases on the test server; drops them after the session."""
    prefix = f"gridsnap_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        run_sync(_admin(POSTGRES_URL, "SELECT 1"))
    except (OSError, SQLAlchemyError, TimeoutError) as exc:
        reason = f"no PostgreSQL at {make_url(POSTGRES_URL).render_as_string()}: {exc!r}"
        if REQUIRE_POSTGRES:
            pytest.fail(f"GRIDSNAP_TEST_REQUIRE_POSTGRES=1 but {reason}")
        pytest.skip(reason)
    created: list[str] = []

    def create(purpose: str) -> str:
        name = f"{prefix}_{purpose}"
        run_sync(_admin(POSTGRES_URL, f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    yield create
    drops = (f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in created)
    run_sync(_admin(POSTGRES_URL, *drops))


@pytest.fixture(scope="session")
def postgres_url(postgres_databases: Callable[[str], str]) -> str:
    return postgres_databases("empty")


@pytest.fixture(scope="session")
def postgres_migrated_url(postgres_databases: Callable[[str], str]) -> str:
    url = postgres_databases("head")
    run_sync(migrate.upgrade_async(url))
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "gridsnap.db"
    run_sync(migrate.upgrade_async(f"sqlite+aiosqlite:///{path}"))
    return path


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database (no tables) of each backend."""
    if request.param == "sqlite":
        (tmp_path / "db").mkdir()
        return f"sqlite+aiosqlite:///{tmp_path / 'db' / 'gridsnap.db'}"
    url: str = request.getfixturevalue("postgres_url")
    run_sync(_admin(url, "DROP SCHEMA public CASCADE", "CREATE SCHEMA public"))
    return url


@pytest.fixture(params=BACKENDS)
def migrated_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database at the newest revision with no rows, of each backend.

    Migrating once per session and emptying per test keeps the suite quick on two cores.
    """
    if request.param == "sqlite":
        path = tmp_path / "gridsnap.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_migrated_url")
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    run_sync(_admin(url, f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return url


@pytest.fixture
async def make_uow(migrated_database_url: str) -> AsyncIterator[Callable[[], BaseUnitOfWork]]:
    """Call the factory for each independent unit of work on one migrated database."""
    engine = create_engine(migrated_database_url)
    factory = create_session_factory(engine)
    try:
        yield lambda: SqlUnitOfWork(session_factory=factory)
    finally:
        await engine.dispose()


@pytest.fixture
def backend(migrated_database_url: str) -> str:
    return make_url(migrated_database_url).get_backend_name()
