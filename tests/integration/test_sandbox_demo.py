"""The sandbox's demo data on a real database with the bundled sample map."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.app import SAMPLE_MAP, ensure_sample_map
from bot.domain.model import RoleName
from bot.sandbox import demo
from bot.services.ports import BaseUnitOfWork

# 天洋新城社区第2–4网格 (燕山大街街道): the browser test's grid, 第3, and the two beside it.
NEIGHBOURING_GRIDS = {"130302006001002", "130302006001003", "130302006001004"}
NOW = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)


async def _grants(uow_factory: Callable[[], BaseUnitOfWork]) -> list[tuple[str, RoleName, str]]:
    async with uow_factory() as uow:
        names = {}
        for person in demo.PERSONAS:
            account = await uow.accounts.find(demo.PLATFORM, str(person.user_id))
            assert account is not None, f"{person.name} has no account"
            names[account.id] = person.name
        grants = await uow.roles.list_all()
    return sorted((names[g.account_id], g.role, g.region_code) for g in grants)


async def test_demo_staff_are_bound_to_three_neighbouring_grids(
    make_uow: Callable[[], BaseUnitOfWork],
) -> None:
    await ensure_sample_map(make_uow, SAMPLE_MAP)
    await demo.seed(make_uow, now=NOW)

    grants = await _grants(make_uow)
    assert {code for name, _role, code in grants if name == "李芳"} == NEIGHBOURING_GRIDS
    assert {code for name, _role, code in grants if name == "张强"} == NEIGHBOURING_GRIDS
    assert {(name, role) for name, role, _code in grants} == {
        ("李芳", RoleName.GRID_WORKER),
        ("张强", RoleName.GRID_LEADER),
        ("陈静", RoleName.COMMUNITY_ADMIN),
        ("刘洋", RoleName.STREET_ADMIN),
    }


async def test_seeding_the_demo_twice_adds_no_accounts_grants_or_informants(
    make_uow: Callable[[], BaseUnitOfWork],
) -> None:
    await ensure_sample_map(make_uow, SAMPLE_MAP)
    await demo.seed(make_uow, now=NOW)
    first = await _grants(make_uow)

    await demo.seed(make_uow, now=NOW)

    assert await _grants(make_uow) == first
    async with make_uow() as uow:
        assert [p.real_name for p in await uow.informants.list()] == ["小王"]
