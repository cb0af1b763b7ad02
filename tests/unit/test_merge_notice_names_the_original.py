"""A case marked as a duplicate tells its riders which report it was merged into.

The worker presses Return → "Duplicate of another report" on the alert and sends the other
report's number, through the real Dispatcher on the in-memory store; the rider who filed
the duplicate and a rider who followed it each read, in their own language, the number of
the report they now follow — not just "another report".
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.chat import Incoming, Kind, Outgoing, User
from bot.domain.categories import load_catalogue
from bot.domain.model import GeoPoint, Level, MapUnit, Report, ReportStatus, RoleName
from bot.services.alerts import button_data
from bot.services.env import Env, MapHolder
from bot.services.reports import submit_report
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore, deliver, dispatcher_on

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
IN_G1 = GeoPoint(lat=39.915, lon=119.515)
NOISE = "0301"  # needs no after-photo; any category would do
CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def _square(x0: float) -> dict[str, object]:
    ring = [[x0, 39.90], [x0 + 0.03, 39.90], [x0 + 0.03, 39.93], [x0, 39.93], [x0, 39.90]]
    return {"type": "Polygon", "coordinates": [ring]}


MAP = [
    MapUnit(code="C1", name="C1", level=Level.COMMUNITY, parent_code=None, geometry=_square(119.5)),
    MapUnit(code="G1", name="G1", level=Level.GRID, parent_code="C1", geometry=_square(119.5)),
]


class Town:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=100),
            photos=MemoryPhotoStore(),
            clock=lambda: NOW,
        )
        self.dispatcher = dispatcher_on(self.store, self.env)
        self.updates = itertools.count(1)

    async def seed(self) -> None:
        async with FakeUnitOfWork(store=self.store) as uow:
            await uow.regions.replace_map(MAP, replace=True)
            await self.env.maps.refresh(uow)
            await uow.commit()

    async def person(self, name: str, locale: str, role: RoleName | None = None) -> User:
        async with FakeUnitOfWork(store=self.store) as uow:
            account = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id=name,
                chat_id=name,
                display_name=name,
                locale=locale,
            )
            grid = await uow.regions.get("G1")
            if role is not None and grid is not None:
                await uow.roles.grant(account.id, role, grid.id)
            await uow.commit()
        return User(platform="telegram", user_id=name, chat_id=name, display_name=name)

    async def report(self, rider: User, *, follower: User | None = None) -> Report:
        async with FakeUnitOfWork(store=self.store) as uow:
            reporter = await uow.accounts.find("telegram", rider.user_id)
            assert reporter is not None
            report = await submit_report(
                uow,
                reporter=reporter.id,
                category_code=NOISE,
                location=IN_G1,
                photos=[],
                note="loud at night",
                now=NOW,
                catalogue=self.env.catalogue,
                gridmap=self.env.maps.current(),
                zone=self.env.zone,
            )
            if follower is not None:
                fan = await uow.accounts.find("telegram", follower.user_id)
                assert fan is not None
                await uow.reports.subscribe(report.id, fan.id)
            await uow.commit()
        return report

    async def send(self, user: User, kind: Kind, **fields: Any) -> list[Outgoing]:
        update = Incoming(update_id=str(next(self.updates)), user=user, kind=kind, **fields)
        return await deliver(self.dispatcher, self.store, update)


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
        button_data=button_data("rr", duplicate, "dup"),
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
