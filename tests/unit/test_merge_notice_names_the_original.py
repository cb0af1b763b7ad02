"""A case marked as a duplicate tells its riders which report it was merged into.

The worker presses Return → "Duplicate of another report" on the alert and sends the other
report's number, through the real Dispatcher on the in-memory store; the rider who filed
the duplicate and a rider who followed it each read, in their own language, the number of
the report they now follow — not just "another report".
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.chat import Kind, Outgoing, User
from bot.domain.categories import load_catalogue
from bot.domain.model import GeoPoint, Level, Report, ReportStatus, RoleName
from bot.services.env import Env, MapHolder
from bot.ui.cases import Reason, return_with
from tests.chatkit import ChatBot, submit, unit
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
IN_G1 = GeoPoint(lat=39.915, lon=119.515)
NOISE = "0301"  # needs no after-photo; any category would do
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
MAP = [unit("C1", Level.COMMUNITY, None, 119.5), unit("G1", Level.GRID, "C1", 119.5)]


class Town:
    """Every flow over the in-memory store; people are named with their language first."""

    def __init__(self) -> None:
        self.store = FakeStore()
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=100),
            photos=MemoryPhotoStore(),
            clock=lambda: NOW,
        )
        self.chat = ChatBot(lambda: FakeUnitOfWork(store=self.store), env)

    async def seed(self) -> None:
        await self.chat.seed_map(MAP)

    async def person(self, name: str, locale: str, role: RoleName | None = None) -> User:
        return await self.chat.person(name, role, locale=locale)

    async def report(self, rider: User, *, follower: User | None = None) -> Report:
        reporter = await self.chat.account_id(rider)
        fan = None if follower is None else await self.chat.account_id(follower)
        async with self.chat.make_uow() as uow:
            report = await submit(
                uow, self.chat.env, reporter, category=NOISE, location=IN_G1, note="loud at night"
            )
            if fan is not None:
                await uow.reports.subscribe(report.id, fan)
            await uow.commit()
        return report

    async def send(self, user: User, kind: Kind, **fields: Any) -> list[Outgoing]:
        return await self.chat.send(user, kind, **fields)


@pytest.mark.parametrize(("reporter_locale", "follower_locale"), [("en", "zh_CN"), ("zh_CN", "en")])
async def test_the_riders_of_a_merged_duplicate_are_told_the_original_reports_number(
    reporter_locale: str, follower_locale: str
) -> None:
    town = Town()
    await town.seed()
    worker = await town.person("worker", "en", RoleName.GRID_WORKER)
    first = await town.person("first", "en")
    second = await town.person("second", reporter_locale)
    fan = await town.person("fan", follower_locale)
    original = await town.report(first)
    duplicate = await town.report(second, follower=fan)

    await town.send(
        worker,
        Kind.BUTTON,
        button_data=return_with(duplicate, Reason.DUPLICATE).pack(),
        callback_id="cb",
        message_id="7",
    )
    said = await town.send(worker, Kind.TEXT, text=original.number)

    assert town.store.data.reports[duplicate.id].status is ReportStatus.MERGED
    for rider, locale in ((second, reporter_locale), (fan, follower_locale)):
        [notice] = [m.text for m in said if m.chat_id == rider.chat_id]
        assert duplicate.number in notice, (locale, notice)
        assert original.number in notice, (locale, notice)
        # In Chinese not one English word; in English not one Chinese character.
        wrong_script = LATIN_WORD if locale == "zh_CN" else CJK
        assert wrong_script.search(notice) is None, (locale, notice)
