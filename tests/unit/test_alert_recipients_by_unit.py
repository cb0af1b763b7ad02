"""Who hears of a new case: each role is looked for on the case's unit first, then upwards,
and the nearest unit with anyone in that role wins; admins up to the city's are the last
resort, so a case on a map without grids still reaches someone."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.model import Account, Level, MapUnit, RoleName
from bot.services.alerts import alert_recipients
from bot.services.maps import import_map
from tests.fakes import FakeStore, FakeUnitOfWork


def _square(x0: float, size: float) -> dict[str, Any]:
    ring = [[x0, 39.90], [x0 + size, 39.90], [x0 + size, 39.90 + size], [x0, 39.90 + size]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


MAP = [
    MapUnit(
        code="Q", name="秦皇岛市", level=Level.CITY, parent_code=None, geometry=_square(119.5, 0.2)
    ),
    MapUnit(
        code="D", name="海港区", level=Level.DISTRICT, parent_code="Q", geometry=_square(119.5, 0.1)
    ),
    MapUnit(
        code="C",
        name="试点社区",
        level=Level.COMMUNITY,
        parent_code="D",
        geometry=_square(119.5, 0.03),
    ),
]


class Map:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    async def person(
        self, name: str, role: RoleName, code: str, *, on_duty: bool = True
    ) -> Account:
        async with FakeUnitOfWork(store=self.store) as uow:
            account = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id=name,
                chat_id=name,
                display_name=name,
                locale="en",
            )
            node = await uow.regions.get(code)
            assert node is not None
            await uow.roles.grant(account.id, role, node.id)
            if not on_duty:
                await uow.accounts.set_on_duty(account.id, False)
            await uow.commit()
        return account

    async def told(self, code: str) -> list[tuple[str, RoleName]]:
        async with FakeUnitOfWork(store=self.store) as uow:
            node = await uow.regions.get(code)
            assert node is not None
            chain = [n.id for n in await uow.regions.ancestors(node.id)]
            found = await alert_recipients(uow, chain)
        return [(account.display_name, role) for account, role in found]


@pytest.fixture
async def city() -> Map:
    store = FakeStore()
    await import_map(FakeUnitOfWork(store=store), MAP, replace=True)
    return Map(store)


async def test_the_communitys_own_workers_are_told_not_the_districts_too(city: Map) -> None:
    await city.person("district-worker", RoleName.GRID_WORKER, "D")
    await city.person("community-worker", RoleName.GRID_WORKER, "C")
    assert await city.told("C") == [("community-worker", RoleName.GRID_WORKER)]
    assert await city.told("D") == [("district-worker", RoleName.GRID_WORKER)]


async def test_off_duty_workers_of_the_unit_pass_the_case_to_those_on_duty_above(
    city: Map,
) -> None:
    await city.person("resting", RoleName.GRID_WORKER, "C", on_duty=False)
    await city.person("district-worker", RoleName.GRID_WORKER, "D")
    assert await city.told("C") == [("district-worker", RoleName.GRID_WORKER)]


@pytest.mark.parametrize("role", [RoleName.STREET_ADMIN, RoleName.CITY_ADMIN])
async def test_with_no_worker_leader_or_community_admin_a_higher_admin_is_told(
    city: Map, role: RoleName
) -> None:
    await city.person("admin", role, "Q")
    assert await city.told("C") == [("admin", role)]
