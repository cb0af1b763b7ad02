"""/case reads differently to each of its three audiences, on real SQLite and PostgreSQL.

A rider following a case as a duplicate is a stranger to its reporter: /case used to show
them the reporter's name, the reporter's note and the names of the workers who acted.
Now riders (reporter and followers) read it as /myreports shows it — statuses and reasons,
no names, no note —, and only grid staff in scope read the full history.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.chat import OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import GeoPoint, Level, MapUnit, Report, ReportStatus, RoleName
from bot.services.env import Env, MapHolder
from bot.services.reports import follow
from bot.ui.cases import Reason, Verb, press, return_with
from tests.chatkit import ChatBot, MakeUow, square, submit
from tests.flowkit import MemoryPhotoStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
GARBAGE = "0102"  # Exposed garbage
SECRET_NOTE = "gate code 4711, flat of Mrs Zhou"
REPORTER, FOLLOWER, WORKER, ADMIN = "Zhang Reporter", "Wang Follower", "Li Worker", "Chen Admin"
MAP = [
    MapUnit(code="C1", name="C1", level=Level.COMMUNITY, parent_code=None,
            geometry=square(119.50, 0.10)),
    MapUnit(code="G1", name="G1", level=Level.GRID, parent_code="C1",
            geometry=square(119.50, 0.05)),
]  # fmt: skip


class Town(ChatBot):
    def __init__(self, make_uow: MakeUow) -> None:
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=MemoryPhotoStore(),
            zone=SHANGHAI,
            clock=lambda: NOW,
        )
        super().__init__(make_uow, env)

    async def filed(self, rider: User, follower: User) -> Report:
        reporter, fan = await self.account_id(rider), await self.account_id(follower)
        async with self.make_uow() as uow:
            report = await submit(
                uow,
                self.env,
                reporter,
                category=GARBAGE,
                location=GeoPoint(lat=39.925, lon=119.52),
                note=SECRET_NOTE,
            )
            await follow(uow, report.id, fan)
            await uow.commit()
        return report

    async def case(self, user: User, number: str) -> str:
        said = await self.command(user, "case", number)
        [shown] = [m for m in said if m.chat_id == user.chat_id]
        return shown.text or ""

    async def myreports_history(self, user: User, report: Report) -> str:
        said = await self.press(user, f"my:{report.id}")
        [shown] = [m for m in said if m.chat_id == user.chat_id and m.kind is OutKind.TEXT]
        return shown.text or ""


@pytest.fixture
async def town(make_uow: MakeUow) -> Town:
    town = Town(make_uow)
    await town.seed_map(MAP)
    return town


@pytest.fixture
async def worked_case(town: Town) -> tuple[Report, dict[str, User]]:
    """A case its worker accepted and then returned with a chosen reason, and a follower."""
    people = {
        "reporter": await town.person(REPORTER),
        "follower": await town.person(FOLLOWER),
        "worker": await town.person(WORKER, RoleName.GRID_WORKER),
        "admin": await town.person(ADMIN, RoleName.COMMUNITY_ADMIN, "C1"),
    }
    report = await town.filed(people["reporter"], people["follower"])
    await town.press(people["worker"], press(Verb.ACCEPT, report).pack())
    await town.press(people["worker"], return_with(await town.stored(report), Reason.GRID).pack())
    assert (await town.stored(report)).status is ReportStatus.RETURNED
    return report, people


@pytest.mark.parametrize("audience", ["worker", "admin"])
async def test_staff_in_scope_read_the_full_case_with_names_and_the_note(
    town: Town, worked_case: tuple[Report, dict[str, User]], audience: str
) -> None:
    report, people = worked_case
    shown = await town.case(people[audience], report.number)
    assert f"Note: {SECRET_NOTE}" in shown
    assert REPORTER in shown and WORKER in shown
    assert "Not this grid" in shown


@pytest.mark.parametrize("audience", ["reporter", "follower"])
async def test_riders_read_the_case_as_myreports_shows_it_without_names_or_the_note(
    town: Town, worked_case: tuple[Report, dict[str, User]], audience: str
) -> None:
    report, people = worked_case
    shown = await town.case(people[audience], report.number)
    lines = shown.splitlines()
    assert lines[0].startswith(f"No. {report.number} · Exposed garbage · Returned for re-dispatch")
    assert [line for line in lines if line.endswith(": Accepted by a grid worker")] != []
    assert [line for line in lines if line.endswith(": Returned for re-dispatch — Not this grid")]
    for hidden in (SECRET_NOTE, "4711", "Note:", REPORTER, FOLLOWER, WORKER):
        assert hidden not in shown, (audience, hidden)
    assert shown == await town.myreports_history(people[audience], report)
