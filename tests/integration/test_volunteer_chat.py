"""Volunteer service and points in chat, on real SQLite and PostgreSQL: a rider registers
as a volunteer, the community admin approves, publishes a task, the rider signs up, checks
in on location (refused when too far or too early), the admin confirms the hours, the
points reach the ledger, ``/points`` and ``/rank`` show them, and the rider can opt out.

Every step is a real ``Incoming`` through the real Dispatcher; what the bot said is read
back from the outbox. The clock is the test's and moves.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.chat import Kind, Location, Outgoing, OutKind, User
from bot.domain.categories import load_catalogue
from bot.domain.model import Level, MapUnit, RoleName
from bot.domain.volunteer import SignupStatus, VolunteerStatus
from bot.services import volunteers
from bot.services.env import Env, MapHolder
from bot.services.volunteers import Refusal
from handlers.register import CONSENT_VERSION
from storage.photos import PhotoStore
from tests.chatkit import ChatBot, MakeUow, approve_informant, square

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=SHANGHAI)
PLACE = Location(lat=39.925, lon=119.52)  # in C1, as the admin's phone shares it (WGS-84)
NEAR = Location(lat=39.9254, lon=119.5203)  # about 50 m from PLACE
FAR = Location(lat=39.94, lon=119.52)  # about 1.7 km north
MAP = [
    MapUnit(code="S1", name="西港路街道", level=Level.STREET, parent_code=None,
            geometry=square(119.50, 0.10)),
    MapUnit(code="C1", name="东环社区", level=Level.COMMUNITY, parent_code="S1",
            geometry=square(119.50, 0.05)),
    MapUnit(code="C2", name="西环社区", level=Level.COMMUNITY, parent_code="S1",
            geometry=square(119.55, 0.05)),
    MapUnit(code="G1", name="东环一网格", level=Level.GRID, parent_code="C1",
            geometry=square(119.50, 0.05)),
    MapUnit(code="G2", name="西环一网格", level=Level.GRID, parent_code="C2",
            geometry=square(119.55, 0.05)),
]  # fmt: skip


class Town(ChatBot):
    def __init__(self, make_uow: MakeUow, photo_dir: Path) -> None:
        self.now = NOW
        env = Env(
            catalogue=load_catalogue(),
            maps=MapHolder(tolerance_m=300),
            photos=PhotoStore(photo_dir),
            zone=SHANGHAI,
            clock=lambda: self.now,
        )
        super().__init__(make_uow, env)

    async def rider(self, name: str, locale: str = "en") -> User:
        """An approved informant of C1 (so with a consent)."""
        user = await self.person(name, locale=locale)
        account_id = await self.account_id(user)
        async with self.make_uow() as uow:
            node = await uow.regions.get("C1")
            assert node is not None
            await approve_informant(uow, account_id, at=NOW, home_region_id=node.id)
            await uow.commit()
        return dataclasses.replace(user, language_code=locale.replace("_", "-"))

    async def region_id(self, code: str) -> int:
        async with self.make_uow() as uow:
            node = await uow.regions.get(code)
        assert node is not None
        return node.id

    async def location(self, user: User, where: Location) -> list[Outgoing]:
        return await self.send(user, Kind.LOCATION, location=where)


def to(user: User, messages: list[Outgoing]) -> list[Outgoing]:
    return [m for m in messages if m.chat_id == user.chat_id]


def texts(user: User, messages: list[Outgoing]) -> str:
    return "\n".join(m.text for m in to(user, messages))


def button_data(user: User, messages: list[Outgoing]) -> list[str]:
    return [
        b.data or ""
        for m in to(user, messages)
        if m.keyboard is not None
        for row in m.keyboard.rows
        for b in row
    ]


async def register_volunteer(town: Town, rider: User) -> list[Outgoing]:
    await town.command(rider, "volunteer")
    await town.press(rider, f"vol:street:{await town.region_id('S1')}")
    await town.press(rider, f"vol:comm:{await town.region_id('C1')}")
    await town.press(rider, "vol:sk:first_aid")
    await town.press(rider, "vol:next")
    await town.press(rider, "vol:sv:volunteer")
    await town.press(rider, "vol:next")
    await town.press(rider, "vol:sl:we_am")
    summary = await town.press(rider, "vol:next")
    assert "First aid" in texts(rider, summary) and "Weekend mornings" in texts(rider, summary)
    return await town.press(rider, "vol:submit")


async def publish_task(town: Town, admin: User, *, slots: str = "3") -> list[Outgoing]:
    await town.command(admin, "task", "new")
    await town.text(admin, "社区义诊")
    await town.location(admin, PLACE)
    await town.text(admin, "11-26 10:00-12:00")
    await town.text(admin, slots)
    await town.press(admin, "task:kind:volunteer")
    await town.press(admin, "task:sk:first_aid")
    summary = await town.press(admin, "task:next")
    assert "社区义诊" in texts(admin, summary)
    return await town.press(admin, "task:publish")


async def test_a_volunteer_registers_is_approved_serves_and_earns_points_and_a_place_on_the_board(
    make_uow: MakeUow, tmp_path: Path
) -> None:
    town = Town(make_uow, tmp_path)
    await town.seed_map(MAP)
    admin = await town.person("陈静", RoleName.COMMUNITY_ADMIN, "C1")
    rider = await town.rider("小王")
    rider_id = await town.account_id(rider)

    sent = await register_volunteer(town, rider)
    assert f"va:ok:{rider_id}" in button_data(admin, sent)
    assert "小王" in texts(admin, sent)

    mine = texts(rider, await town.command(rider, "mydata"))
    assert "Volunteer registration: 东环社区, waiting for review" in mine
    assert "Skills: First aid" in mine and "Free: Weekend mornings" in mine

    decided = await town.press(admin, f"va:ok:{rider_id}")
    assert "volunteer registration was approved" in texts(rider, decided)

    published = await publish_task(town, admin)
    assert "offered to 1 matching volunteers" in texts(admin, published)
    (offer,) = button_data(rider, published)
    assert offer.startswith("tk:up:")
    task_id = int(offer.rsplit(":", 1)[1])

    signed = await town.press(rider, offer)
    assert f"tk:in:{task_id}" in button_data(rider, signed)

    town.now = NOW + timedelta(minutes=10)  # 09:10: the window opens at 10:00
    await town.press(rider, f"tk:in:{task_id}")
    early = await town.location(rider, NEAR)
    assert "Check-in is open from 30 minutes before" in texts(rider, early)

    town.now = NOW + timedelta(hours=1, minutes=5)
    await town.press(rider, f"tk:in:{task_id}")
    far = await town.location(rider, FAR)
    assert "too far" in texts(rider, far)
    checked = await town.location(rider, NEAR)
    assert "Checked in" in texts(rider, checked)
    (confirm,) = button_data(admin, checked)
    assert confirm.startswith("tk:ok:")

    confirmed = await town.press(admin, confirm)
    assert "2 h of service" in texts(rider, confirmed) and "+20 points" in texts(rider, confirmed)
    again = await town.press(admin, confirm)
    assert "already done" in "\n".join(m.text for m in again)

    points = await town.command(rider, "points")
    assert "You have 20 points." in texts(rider, points)
    assert "volunteer service" in texts(rider, points) and "社区义诊" in texts(rider, points)
    board = texts(rider, await town.command(rider, "rank"))
    assert "东环社区" in board and "西港路街道" in board and "西环社区" not in board
    assert board.count("1. 小王 · 20") == 2

    stats = texts(admin, await town.command(admin, "volunteerstats"))
    assert "东环社区: 1 volunteers (0 waiting), 1 tasks, 1 sign-ups, 2 h confirmed" in stats
    assert "西环社区" not in stats and "西港路街道" not in stats  # not this admin's to see
    street_admin = await town.person("刘洋", RoleName.STREET_ADMIN, "S1")
    stats = texts(street_admin, await town.command(street_admin, "volunteerstats"))
    assert "西环社区: 0 volunteers (0 waiting), 0 tasks, 0 sign-ups, 0 h confirmed" in stats
    assert "西港路街道: 1 volunteers (0 waiting), 1 tasks, 1 sign-ups, 2 h confirmed" in stats

    await town.press(rider, "rk:hide")
    assert "小王" not in texts(rider, await town.command(rider, "rank"))
    async with make_uow() as uow:
        signup = (await uow.tasks.signups([task_id]))[0]
        stored = await uow.volunteers.get(rider_id)
        entries = await uow.points.entries(rider_id)
    assert signup.status is SignupStatus.CONFIRMED and signup.hours == 2
    assert stored is not None and stored.status is VolunteerStatus.APPROVED
    assert [(e.points, e.reason, e.task_id) for e in entries] == [(20, "service", task_id)]
    assert entries[0].region_id == await town.region_id("C1")


async def test_mydata_shows_a_volunteers_sign_ups_and_points_and_deletedata_erases_them(
    make_uow: MakeUow, tmp_path: Path
) -> None:
    town = Town(make_uow, tmp_path)
    await town.seed_map(MAP)
    admin = await town.person("陈静", RoleName.COMMUNITY_ADMIN, "C1")
    helper = await town.person("小赵")  # a volunteer who never registered as an informant
    helper_id = await town.account_id(helper)
    async with make_uow() as uow:
        await uow.accounts.record_consent(helper_id, CONSENT_VERSION, NOW)
        await uow.commit()
    await register_volunteer(town, helper)
    await town.press(admin, f"va:ok:{helper_id}")
    published = await publish_task(town, admin)
    (offer,) = button_data(helper, published)
    task_id = int(offer.rsplit(":", 1)[1])
    await town.press(helper, offer)
    town.now = NOW + timedelta(hours=1, minutes=5)
    await town.press(helper, f"tk:in:{task_id}")
    (confirm,) = button_data(admin, await town.location(helper, NEAR))
    await town.press(admin, confirm)
    await town.press(helper, "rk:hide")

    mine = texts(helper, await town.command(helper, "mydata"))
    assert "Task sign-up: 社区义诊" in mine and "hours confirmed" in mine
    assert "m from the task's place" in mine and "Hours confirmed: 2" in mine
    assert "Points: 20" in mine
    assert "not to be shown on the leaderboards" in mine
    assert "Informant status" not in mine

    asked = texts(helper, await town.command(helper, "deletedata"))
    assert "volunteer registration, task sign-ups and check-ins, points, party membership" in asked
    await town.press(helper, "deldata:yes")
    async with make_uow() as uow:
        assert await uow.volunteers.get(helper_id) is None
        assert await uow.tasks.signups([task_id]) == []
        assert await uow.points.entries(helper_id) == []
        assert not await uow.points.hidden(helper_id)


def answers(messages: list[Outgoing]) -> list[str]:
    return [m.text for m in messages if m.kind is OutKind.ANSWER_BUTTON]


async def test_a_forged_approval_button_tells_no_one_outside_the_community_who_registered(
    make_uow: MakeUow, tmp_path: Path
) -> None:
    town = Town(make_uow, tmp_path)
    await town.seed_map(MAP)
    await town.person("陈静", RoleName.COMMUNITY_ADMIN, "C1")
    registered, unregistered = await town.rider("小王"), await town.rider("小李")
    await register_volunteer(town, registered)
    forgers = [await town.rider("老张"), await town.person("刘洋", RoleName.COMMUNITY_ADMIN, "C2")]
    for forger in forgers:
        for verb in ("ok", "no"):
            said = {
                who: answers(await town.press(forger, f"va:{verb}:{who}"))
                for who in (
                    await town.account_id(registered),
                    await town.account_id(unregistered),
                    999_999,
                )
            }
            assert len(set(map(tuple, said.values()))) == 1, said
            assert all(len(a) == 1 and "小王" not in a[0] for a in said.values())
    registered_id = await town.account_id(registered)
    async with make_uow() as uow:
        stored = await uow.volunteers.get(registered_id)
    assert stored is not None and stored.status is VolunteerStatus.PENDING


async def test_a_full_task_refuses_the_next_volunteer_and_a_stranger_cannot_sign_up(
    make_uow: MakeUow, tmp_path: Path
) -> None:
    town = Town(make_uow, tmp_path)
    await town.seed_map(MAP)
    admin = await town.person("陈静", RoleName.COMMUNITY_ADMIN, "C1")
    first, second = await town.rider("小王"), await town.rider("小李")
    for rider in (first, second):
        await register_volunteer(town, rider)
        await town.press(admin, f"va:ok:{await town.account_id(rider)}")
    published = await publish_task(town, admin, slots="1")
    offer = button_data(first, published)[0]
    assert button_data(second, published) == [offer]
    await town.press(first, offer)
    full = await town.press(second, offer)
    assert "every place in this task is taken" in "\n".join(m.text for m in full)
    stranger = await town.rider("老张")
    refused = await town.press(stranger, offer)
    assert "Only approved volunteers" in "\n".join(m.text for m in refused)


async def test_only_a_deciding_admin_is_offered_task_publishing(
    make_uow: MakeUow, tmp_path: Path
) -> None:
    town = Town(make_uow, tmp_path)
    await town.seed_map(MAP)
    worker = await town.person("李芳", RoleName.GRID_WORKER, "G1")
    said = await town.command(worker, "task", "new")
    assert "Only community, street and city admins" in texts(worker, said)
    other = await town.person("刘洋", RoleName.COMMUNITY_ADMIN, "C2")
    await town.command(other, "task", "new")
    await town.text(other, "义诊")
    refused = await town.location(other, PLACE)  # a place in C1, which is not theirs
    assert "not in a community you manage" in texts(other, refused)


async def test_two_volunteers_taking_the_last_place_at_once_one_gets_it(
    make_uow: MakeUow, tmp_path: Path
) -> None:
    town = Town(make_uow, tmp_path)
    await town.seed_map(MAP)
    admin = await town.person("陈静", RoleName.COMMUNITY_ADMIN, "C1")
    riders = [await town.rider("小王"), await town.rider("小李")]
    for rider in riders:
        await register_volunteer(town, rider)
        await town.press(admin, f"va:ok:{await town.account_id(rider)}")
    published = await publish_task(town, admin, slots="1")
    task_id = int(button_data(riders[0], published)[0].rsplit(":", 1)[1])

    async def take(user: User) -> Refusal | None:
        async with make_uow() as uow:
            account = await uow.accounts.find(user.platform, user.user_id)
            assert account is not None
            outcome = await volunteers.sign_up(uow, task_id, account, now=town.now)
            await asyncio.sleep(0.05)  # both inside their transaction before either commits
            await uow.commit()
        return outcome.refusal

    outcomes = await asyncio.gather(*(take(rider) for rider in riders))
    assert outcomes.count(None) == 1 and outcomes.count(Refusal.FULL) == 1
    async with make_uow() as uow:
        assert len(await uow.tasks.signups([task_id])) == 1
