"""Issue 8: one update delivered to two bot processes at once (PostgreSQL) is handled once,
and the process that lost the race says nothing — it used to send the rider a false
"Sorry, something went wrong".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import pytest

from bot.chat import Incoming, Kind, User
from bot.domain.categories import load_catalogue
from bot.services.env import Env, MapHolder
from bot.services.ports import BaseUnitOfWork
from storage.database import create_engine, create_session_factory
from storage.uow import SqlUnitOfWork
from tests.chatkit import dispatcher_over

POSTGRES_ONLY = pytest.mark.parametrize(
    "migrated_database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
RIDER = User(
    platform="telegram", user_id="77", chat_id="77", display_name="Wang", language_code="en"
)
START = Incoming(
    update_id="5001", user=RIDER, kind=Kind.COMMAND, command="start", payload="", text="/start"
)


class _NoPhotos:
    def put(self, data: bytes, suffix: str = "") -> str:
        raise AssertionError("no photo in this test")

    def get(self, key: str) -> bytes:
        raise KeyError(key)


def _env() -> Env:
    return Env(catalogue=load_catalogue(), maps=MapHolder(tolerance_m=300), photos=_NoPhotos())


@pytest.fixture
async def two_processes(
    migrated_database_url: str,
) -> AsyncIterator[list[Callable[[], BaseUnitOfWork]]]:
    """Two unit-of-work factories on their own engines (as two processes have), whose first
    units meet before recording the update id: both record it at once, as in a real race."""
    engines = [create_engine(migrated_database_url) for _ in range(2)]
    meeting = asyncio.Barrier(2)
    factories: list[Callable[[], BaseUnitOfWork]] = []
    for engine in engines:
        session_factory = create_session_factory(engine)
        first = [True]

        def make(session_factory=session_factory, first=first) -> BaseUnitOfWork:  # type: ignore[no-untyped-def]
            uow = SqlUnitOfWork(session_factory=session_factory)
            if first[0]:
                first[0] = False
                _meet_before_recording(uow, meeting)
            return uow

        factories.append(make)
    try:
        yield factories
    finally:
        for engine in engines:
            await engine.dispose()


def _meet_before_recording(uow: SqlUnitOfWork, meeting: asyncio.Barrier) -> None:
    begin = uow._begin

    async def begin_then_wrap() -> None:
        await begin()
        mark = uow.updates.mark

        async def meet_then_mark(platform: str, update_id: str, at: datetime | None = None) -> None:
            async with asyncio.timeout(10):
                await meeting.wait()
            await mark(platform, update_id, at)

        uow.updates.mark = meet_then_mark  # type: ignore[method-assign]

    uow._begin = begin_then_wrap  # type: ignore[method-assign]


@POSTGRES_ONLY
async def test_8_a_start_delivered_to_two_processes_at_once_is_answered_once_without_an_apology(
    two_processes: list[Callable[[], BaseUnitOfWork]],
) -> None:
    dispatchers = [dispatcher_over(make, _env()) for make in two_processes]

    await asyncio.gather(*(d.handle(START) for d in dispatchers))

    async with two_processes[0]() as uow:
        rows = await uow.outbox.claim(100, _env().clock(), per_chat=100)
    texts = [row.message.text or "" for row in rows]
    assert not any("Sorry" in text for text in texts), texts
    assert texts and len(set(texts)) == len(texts), texts  # answered, and only once
