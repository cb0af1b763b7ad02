"""On a partly mapped map, a case routed to a district (or community) itself — no grid holds
its point — is that unit's own: its staff see it in /queue, its admins in /returned, its
workers in the morning digest. Before, /queue collected only grids and /returned and the
digest only the leaves below a role's unit, so such cases were listed nowhere.

A real ``Dispatcher`` with every flow over the in-memory store (``tests/chatkit.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.chat import OutKind
from bot.domain.categories import load_catalogue
from bot.domain.model import GeoPoint, Level, Report, ReportStatus, RoleName
from bot.services.env import Env, MapHolder
from bot.services.escalation import digest
from tests.chatkit import ChatBot, unit
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
# 海港区 (D1) has one community with one grid in its west corner; 山海关区 (D2) only its outline.
MAP = [
    unit("D1", Level.DISTRICT, None, 119.50, 0.10),
    unit("C1", Level.COMMUNITY, "D1", 119.50),
    unit("G1", Level.GRID, "C1", 119.50),
    unit("D2", Level.DISTRICT, None, 119.60, 0.10),
]
IN_D1_OUTSIDE_C1 = GeoPoint(lat=39.95, lon=119.57)
IN_D2 = GeoPoint(lat=39.95, lon=119.65)


async def world() -> ChatBot:
    store = FakeStore()
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=100),
        photos=MemoryPhotoStore(),
        clock=lambda: NOW,
    )
    bot = ChatBot(lambda: FakeUnitOfWork(store=store), env)
    await bot.seed_map(MAP)
    return bot


async def case_in(
    bot: ChatBot, code: str, where: GeoPoint, status: ReportStatus = ReportStatus.DISPATCHED
) -> Report:
    rider = await bot.account_id(await bot.person("rider", region=code))
    async with bot.make_uow() as uow:
        node = await uow.regions.get(code)
        assert node is not None
        report = await uow.reports.add(
            reporter_id=rider,
            category_code="0301",
            location=where,
            grid_id=node.id,
            note="",
            status=status,
            created_at=NOW - timedelta(days=1),
            ack_due_at=NOW - timedelta(hours=20),
            resolve_due_at=NOW - timedelta(hours=1),
        )
        await uow.commit()
    return report


def texts(said: list) -> str:  # type: ignore[type-arg]
    return "\n".join(m.text for m in said if m.kind is OutKind.TEXT and m.text)


async def test_queue_lists_cases_of_the_district_itself_and_of_a_district_without_grids() -> None:
    bot = await world()
    in_d1 = await case_in(bot, "D1", IN_D1_OUTSIDE_C1)
    in_d2 = await case_in(bot, "D2", IN_D2)
    d1_staff = await bot.person("d1-staff", RoleName.GRID_WORKER, "D1")
    d2_staff = await bot.person("d2-staff", RoleName.GRID_WORKER, "D2")

    d1_queue = texts(await bot.command(d1_staff, "queue"))
    d2_queue = texts(await bot.command(d2_staff, "queue"))

    assert "Open cases: 1" in d1_queue and in_d1.number in d1_queue
    assert "Open cases: 1" in d2_queue and in_d2.number in d2_queue
    assert in_d2.number not in d1_queue


async def test_returned_lists_a_case_returned_to_the_district_itself() -> None:
    bot = await world()
    returned = await case_in(bot, "D1", IN_D1_OUTSIDE_C1, ReportStatus.RETURNED)
    admin = await bot.person("d1-admin", RoleName.STREET_ADMIN, "D1")

    said = texts(await bot.command(admin, "returned"))

    assert "Returned cases: 1" in said
    assert returned.number in said


async def test_the_digest_of_a_districts_worker_lists_the_districts_own_cases() -> None:
    bot = await world()
    in_d1 = await case_in(bot, "D1", IN_D1_OUTSIDE_C1)
    await bot.person("d1-worker", RoleName.GRID_WORKER, "D1")

    assert await digest(bot.make_uow, bot.env, NOW) == 1

    [message] = [m for m in await bot.drain() if m.chat_id == "d1-worker"]
    assert "Open cases in your grids: 1, overdue: 1." in message.text
    assert in_d1.number in message.text
