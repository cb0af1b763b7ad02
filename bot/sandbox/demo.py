"""Demo data for the sandbox: staff bound to a few grids in 燕山大街街道 and an approved rider.

Each persona is a fixed emulator user id, so the database rows made on the first start
still match the emulator's users on every later start (the emulator itself keeps nothing
between runs). Seeding is idempotent: every step finds what a previous start made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.domain.model import InformantProfile, InformantStatus, RegionNode, RoleName
from bot.services.ports import BaseUnitOfWork
from handlers.register import CONSENT_VERSION

PLATFORM = "telegram"  # the sandbox plays Telegram users through the emulator
WECHAT = "wechat"  # or WeChat followers through the WeChat emulator (``--platform wechat``)
# Or both at once: riders (小王 and new ones) on WeChat, staff on Telegram, one case across both.
MIXED = "mixed"
LOCALE = "zh_CN"
LANGUAGE_CODE = "zh-hans"  # what a Chinese Telegram client reports
DEMO_GRID = "130302006001003"  # 天洋新城社区第3网格
# The grid worker and leader look after it and the two grids beside it.
DEMO_GRIDS = ("130302006001002", DEMO_GRID, "130302006001004")
DEMO_COMMUNITY = "130302006001"  # 天洋新城社区
DEMO_STREET = "130302006"  # 燕山大街街道


@dataclass(frozen=True, slots=True, kw_only=True)
class Persona:
    key: str  # the ``?as=`` value in the web chat's URL
    user_id: int
    name: str
    phone: str
    role: RoleName
    region_codes: tuple[str, ...]  # staff: where the role is granted; a rider: the home


PERSONAS: tuple[Persona, ...] = (
    Persona(
        key="rider",
        user_id=7001,
        name="小王",
        phone="+8613800007001",
        role=RoleName.INFORMANT,
        region_codes=(DEMO_COMMUNITY,),
    ),
    Persona(
        key="worker",
        user_id=7101,
        name="李芳",
        phone="+8613800007101",
        role=RoleName.GRID_WORKER,
        region_codes=DEMO_GRIDS,
    ),
    Persona(
        key="leader",
        user_id=7102,
        name="张强",
        phone="+8613800007102",
        role=RoleName.GRID_LEADER,
        region_codes=DEMO_GRIDS,
    ),
    Persona(
        key="community",
        user_id=7201,
        name="陈静",
        phone="+8613800007201",
        role=RoleName.COMMUNITY_ADMIN,
        region_codes=(DEMO_COMMUNITY,),
    ),
    Persona(
        key="street",
        user_id=7301,
        name="刘洋",
        phone="+8613800007301",
        role=RoleName.STREET_ADMIN,
        region_codes=(DEMO_STREET,),
    ),
)
RIDER_COMPANY = "美团"


class DemoMapMissing(Exception):
    """The database's map lacks a unit the demo binds staff to (another map was imported)."""


def persona(key: str) -> Persona | None:
    return next((p for p in PERSONAS if p.key == key), None)


def openid(user_id: int) -> str:
    """A persona's (or new rider's) WeChat openid: 28 characters, fixed for the same id."""
    return f"oGridsnapDemo{user_id:015d}"


def platform_user_id(user_id: int, platform: str) -> str:
    return openid(user_id) if platform == WECHAT else str(user_id)


def platform_of(person: Persona, mode: str) -> str:
    """Where ``person`` chats in the sandbox's ``mode`` (telegram, wechat or mixed)."""
    if mode == MIXED:
        return WECHAT if person.role is RoleName.INFORMANT else PLATFORM
    return mode


async def seed(
    uow_factory: Callable[[], BaseUnitOfWork], *, now: datetime, mode: str = PLATFORM
) -> None:
    """Create whatever of the demo data is missing; leave the rest as it is."""
    async with uow_factory() as uow:
        for person in PERSONAS:
            await _seed_persona(uow, person, now, platform_of(person, mode))
        await uow.commit()


async def _seed_persona(uow: BaseUnitOfWork, person: Persona, now: datetime, platform: str) -> None:
    regions = [await _region(uow, code) for code in person.region_codes]
    user_id = platform_user_id(person.user_id, platform)
    account = await uow.accounts.get_or_create(
        platform=platform,
        platform_user_id=user_id,
        chat_id=user_id,  # a private chat's id is the user's on both platforms
        display_name=person.name,
        locale=LOCALE,
    )
    if person.role is not RoleName.INFORMANT:
        for region in regions:
            await uow.roles.grant(account.id, person.role, region.id)
        return
    if account.consent is None:
        await uow.accounts.record_consent(account.id, CONSENT_VERSION, now)
    if await uow.informants.get(account.id) is None:
        await uow.accounts.set_phone(account.id, person.phone)
        await uow.informants.upsert(
            InformantProfile(
                account_id=account.id,
                real_name=person.name,
                phone=person.phone,
                company=RIDER_COMPANY,
                status=InformantStatus.APPROVED,
                home_region_id=regions[0].id,
                created_at=now,
                decided_at=now,
            )
        )


async def _region(uow: BaseUnitOfWork, code: str) -> RegionNode:
    region = await uow.regions.get(code)
    if region is None:
        raise DemoMapMissing(f"the grid map has no unit {code}")
    return region
