"""Slow work happens outside the database transaction: while the dispatcher downloads a
rider's photo, it holds nothing in the database, on real SQLite and real PostgreSQL.

The platform's file download is a fetcher (the port ``Dispatcher.add_fetcher`` takes). This
one looks at the database from the outside while it is asked for the file: no connection
of the bot's engine is checked out, this process's SQLite writer turn is free and another
connection can take SQLite's write lock (BEGIN IMMEDIATE), or PostgreSQL shows no open
transaction on the database. Then it returns a real camera JPEG and the report goes on to
be filed with that photo.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, QueuePool

from bot.chat import FileRef, Kind, Location, Outgoing, User
from bot.domain.categories import load_catalogue
from bot.domain.model import Level, MapUnit
from bot.services.env import Env, MapHolder
from bot.services.ports import BaseUnitOfWork
from storage.database import create_engine, create_session_factory, writer_turn
from storage.photos import PhotoStore
from storage.uow import SqlUnitOfWork
from tests.chatkit import ChatBot, approve_informant, square

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
PHOTOS = Path(__file__).resolve().parents[3] / "shared" / "data" / "realworld" / "photos"
CAMERA_JPEG = PHOTOS / "gps" / "DSCN0021.jpg"
RIDER = User(platform="telegram", user_id="801", chat_id="801", language_code="en")
IN_G1 = Location(lat=39.925, lon=119.52)
GARBAGE = "0102"


MAP = [
    MapUnit(code="C1", name="东环社区", level=Level.COMMUNITY, parent_code=None,
            geometry=square(119.50, 0.10)),
    MapUnit(code="G1", name="东环一网格", level=Level.GRID, parent_code="C1",
            geometry=square(119.50, 0.05)),
]  # fmt: skip


async def what_the_database_holds(engine: AsyncEngine) -> list[str]:
    """Everything, seen from outside the bot, that says a unit of work is open now."""
    held: list[str] = []
    pool = engine.pool
    assert isinstance(pool, QueuePool)  # what create_engine gives both backends
    if checked_out := pool.checkedout():
        held.append(f"{checked_out} connection(s) of the bot's pool checked out")
    url = engine.url
    if url.get_backend_name() == "sqlite":
        turn = writer_turn(engine)
        if turn is not None and turn.locked():
            held.append("this process's SQLite writer turn")
        if not _sqlite_write_lock_is_free(Path(str(url.database))):
            held.append("the SQLite write lock")
    elif open_transactions := await _postgres_open_transactions(url.render_as_string(False)):
        held.append(f"{open_transactions} open PostgreSQL transaction(s)")
    return held


def _sqlite_write_lock_is_free(path: Path) -> bool:
    # timeout=0: fail at once instead of waiting for the holder to commit.
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # "database is locked"
        return False
    finally:
        other.close()


async def _postgres_open_transactions(url: str) -> int:
    probe = create_async_engine(url, poolclass=NullPool)
    try:
        async with probe.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
                )
            )
            return int(found.scalar_one())
    finally:
        await probe.dispose()


class WatchfulFiles:
    """The platform's file download: notes what the database holds, then gives a real JPEG."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.seen_while_fetching: list[list[str]] = []

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        self.seen_while_fetching.append(await what_the_database_holds(self.engine))
        return CAMERA_JPEG.read_bytes()


class Bot:
    """The rider talking to every flow over one real database (the fetcher watching it)."""

    def __init__(self, engine: AsyncEngine, env: Env) -> None:
        factory = create_session_factory(engine)

        def make_uow() -> BaseUnitOfWork:
            return SqlUnitOfWork(session_factory=factory)

        self.engine = engine
        self.files = WatchfulFiles(engine)
        self.chat = ChatBot(make_uow, env)
        self.chat.dispatcher.add_fetcher("telegram", self.files)
        self.make_uow, self.env = make_uow, env

    async def send(self, kind: Kind, **fields: Any) -> list[Outgoing]:
        return await self.chat.send(RIDER, kind, **fields)

    async def press(self, data: str) -> list[Outgoing]:
        return await self.chat.press(RIDER, data, message_id="9")

    async def seed(self) -> None:
        """The map, and the rider as an approved informant who consented."""
        await self.chat.seed_map(MAP)
        async with self.make_uow() as uow:
            community = await uow.regions.get("C1")
            assert community is not None
            account = await uow.accounts.get_or_create(
                platform="telegram", platform_user_id="801", chat_id="801", display_name="Wang",
                locale="en",
            )  # fmt: skip
            await approve_informant(uow, account.id, at=NOW, home_region_id=community.id)
            await uow.commit()


@pytest.fixture
async def bot(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[Bot]:
    engine = create_engine(migrated_database_url)
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300),
        photos=PhotoStore(tmp_path / "photos"),
        clock=lambda: NOW,
    )
    try:
        bot = Bot(engine, env)
        await bot.seed()
        yield bot
    finally:
        await engine.dispose()


async def test_the_probe_sees_an_open_unit_of_work(bot: Bot) -> None:
    # Without this, "nothing held" below could just mean the probe cannot see anything.
    async with bot.make_uow() as uow:
        await uow.updates.seen("telegram", "probe")
        assert await what_the_database_holds(bot.engine) != []
    assert await what_the_database_holds(bot.engine) == []


async def test_a_photo_is_downloaded_while_no_transaction_is_open_and_the_report_is_filed(
    bot: Bot,
) -> None:
    asked = await bot.send(Kind.PHOTO, photo=FileRef(file_id="photo-1", size=200_000))

    assert bot.files.seen_while_fetching == [[]], "the download ran inside a transaction"
    assert any("Where is it?" in m.text for m in asked), [m.text for m in asked]
    await bot.send(Kind.LOCATION, location=IN_G1)
    await bot.press(f"rep:cat:{GARBAGE}")
    await bot.press("rep:skip")
    filed = await bot.press("rep:submit")
    assert any("has been filed" in m.text for m in filed), [m.text for m in filed]
    async with bot.make_uow() as uow:
        account = await uow.accounts.find("telegram", RIDER.user_id)
        assert account is not None
        [report] = await uow.reports.for_reporter(account.id)
    [photo] = report.photos
    assert bot.env.photos.get(photo.sha256)[:2] == b"\xff\xd8"  # the stored, cleaned JPEG
