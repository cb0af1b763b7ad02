"""A verified party member's status never reaches case staff, on real SQLite and PostgreSQL.

The rider has declared, been verified and chosen to show the badge; then reports a hazard
that goes through the whole loop. Nothing of the declaration — the organisation, the year,
the standing, the badge — is in any message to the grid worker, the grid leader or the
community admin (the alert, /queue, /case, the pushes), nor in /case as the rider reads it.
The badge shows on the rider's own /points and /myreports only.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.chat import Outgoing, User
from bot.domain.categories import load_catalogue
from bot.domain.model import GeoPoint, Level, MapUnit, Report, RoleName
from bot.domain.party import Standing
from bot.i18n import translator
from bot.services import party
from bot.services.env import Env, MapHolder
from bot.ui.cases import Verb, press
from tests.chatkit import ChatBot, MakeUow, approve_informant, square, submit
from tests.flowkit import MemoryPhotoStore

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=SHANGHAI)
ORGANISATION = "中共秦皇岛市某快递公司第七支部"
YEAR = 1987
MAP = [
    MapUnit(code="C1", name="C1", level=Level.COMMUNITY, parent_code=None,
            geometry=square(119.50, 0.10)),
    MapUnit(code="G1", name="G1", level=Level.GRID, parent_code="C1",
            geometry=square(119.50, 0.05)),
]  # fmt: skip
# What would give the declaration away, in both languages.
GIVEAWAYS = [ORGANISATION, str(YEAR), "🏅"] + [
    translator(locale)._(source)
    for locale in ("en", "zh_CN")
    for source in (party.BADGE, *party.STANDING_NAMES.values())
]


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

    async def verified_member_with_badge(self, rider: User, secretary: User) -> None:
        rider_id, secretary_id = await self.account_id(rider), await self.account_id(secretary)
        async with self.make_uow() as uow:
            c1 = await uow.regions.get("C1")
            assert c1 is not None
            await approve_informant(uow, rider_id, at=NOW, home_region_id=c1.id)
            account = await uow.accounts.get(rider_id)
            assert account is not None
            draft = party.Draft(
                standing=Standing.FORMAL, organisation=ORGANISATION, year_joined=YEAR,
                community_id=c1.id,
            )  # fmt: skip
            declaration, _ = await party.declare(
                uow, self.env, account, draft, now=NOW, consented_at=NOW
            )
            await party.decide(
                uow, self.env, declaration, party.Verdict.VERIFY, by=secretary_id, now=NOW
            )
            await uow.party.set_badge(rider_id, True)
            await uow.commit()
        await self.drain()

    async def filed(self, rider: User) -> Report:
        reporter = await self.account_id(rider)
        async with self.make_uow() as uow:
            report = await submit(
                uow,
                self.env,
                reporter,
                category="0102",
                location=GeoPoint(lat=39.925, lon=119.52),
                note="垃圾堆放",
            )
            await uow.commit()
        await self.drain()
        return report


def said_to(user: User, messages: list[Outgoing]) -> str:
    return "\n".join(
        (m.text or "")
        + " ".join(b.text for row in (m.keyboard.rows if m.keyboard else ()) for b in row)
        for m in messages
        if m.chat_id == user.chat_id
    )


@pytest.fixture
async def town(make_uow: MakeUow) -> Town:
    town = Town(make_uow)
    await town.seed_map(MAP)
    return town


async def test_a_verified_members_status_reaches_no_case_staff_and_no_case_view(
    town: Town,
) -> None:
    secretary = await town.person("secretary", RoleName.PARTY_SECRETARY, "C1")
    worker = await town.person("worker", RoleName.GRID_WORKER, "G1")
    leader = await town.person("leader", RoleName.GRID_LEADER, "G1", locale="zh_CN")
    admin = await town.person("admin", RoleName.COMMUNITY_ADMIN, "C1", locale="zh_CN")
    rider = await town.person("rider")
    await town.verified_member_with_badge(rider, secretary)
    report = await town.filed(rider)
    staff = (worker, leader, admin)
    for user in staff:
        await town.command(user, "queue")
        await town.command(user, "case", report.number)
    await town.press(worker, press(Verb.ACCEPT, report).pack())
    await town.command(worker, "case", report.number)
    rider_case = said_to(rider, await town.command(rider, "case", report.number))

    for user in staff:
        shown = said_to(user, town.outbox)
        assert report.number in shown  # they did see the case: the check below means something
        assert [word for word in GIVEAWAYS if word in shown] == []
    assert report.number in rider_case
    assert [word for word in GIVEAWAYS if word in rider_case] == []
    # The rider's own views carry the badge they chose.
    assert "🏅" in said_to(rider, await town.command(rider, "points"))
    assert "🏅" in said_to(rider, await town.command(rider, "myreports"))


async def test_the_party_organisation_sees_no_reports(town: Town) -> None:
    secretary = await town.person("secretary", RoleName.PARTY_SECRETARY, "C1")
    rider = await town.person("rider")
    await town.verified_member_with_badge(rider, secretary)
    report = await town.filed(rider)
    queue = said_to(secretary, await town.command(secretary, "queue"))
    case = said_to(secretary, await town.command(secretary, "case", report.number))
    assert "/queue is for grid staff." in queue
    assert case == f"No case {report.number} that you can see."
    assert report.number not in said_to(secretary, town.outbox).replace(case, "")
