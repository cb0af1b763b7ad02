"""Issue 11: what every update costs the database, counted by the engine's own events.

An update whose flow reads and changes nothing (a press on the ticked button that shows an
earlier choice) is three statements in one commit: its id recorded (which is the check that
it is new), the account with its conversation state, its answer queued. It used to be eight
statements: a look for the id, the map version, the account upserted and read back, the
state loaded and saved unchanged, the answer, the id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.chat import Incoming, Kind, OutKind, User
from bot.domain.categories import load_catalogue
from bot.services.env import Env, MapHolder
from handlers.base import CHOSEN_PREFIX
from storage.database import create_engine, create_session_factory
from storage.uow import SqlUnitOfWork
from tests.chatkit import dispatcher_over
from tests.flowkit import MemoryPhotoStore

RIDER = User(platform="telegram", user_id="1101", chat_id="1101", language_code="en")


@dataclass
class Counted:
    statements: int = 0
    commits: int = 0


def counting(engine: AsyncEngine) -> Counted:
    counted = Counted()

    def statement(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        # SQLite's BEGIN IMMEDIATE goes through the cursor too; it is the transaction.
        if not sql.lstrip().upper().startswith("BEGIN"):
            counted.statements += 1

    def commit(_conn: Any) -> None:
        counted.commits += 1

    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    event.listen(engine.sync_engine, "commit", commit)
    return counted


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_engine(migrated_database_url)
    try:
        yield made
    finally:
        await made.dispose()


def press(update_id: str) -> Incoming:
    return Incoming(
        update_id=update_id,
        user=RIDER,
        kind=Kind.BUTTON,
        button_data=f"{CHOSEN_PREFIX}:",
        callback_id=f"cb{update_id}",
        message_id="7",
    )


async def test_11_an_update_that_changes_nothing_is_three_statements_in_one_commit(
    engine: AsyncEngine,
) -> None:
    factory = create_session_factory(engine)
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300, recheck_s=3600),  # the version is looked up once
        photos=MemoryPhotoStore(),
    )
    bot = dispatcher_over(lambda: SqlUnitOfWork(session_factory=factory), env)
    await bot.handle(press("1"))  # first contact: the account is created

    counted = counting(engine)
    await bot.handle(press("2"))
    await bot.handle(press("2"))  # delivered again: one statement, nothing committed

    assert (counted.statements, counted.commits) == (3 + 1, 1)
    async with SqlUnitOfWork(session_factory=factory) as uow:
        rows = await uow.outbox.claim(10, env.clock(), per_chat=10)
    assert [row.message.kind for row in rows] == [OutKind.ANSWER_BUTTON] * 2
