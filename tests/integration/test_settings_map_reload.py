"""The process's grid map (``MapHolder``) is built once and rebuilt only when another import
(``gridsnap map import`` goes through ``import_map``) has bumped the stored map version;
the version is looked up at most once per ``recheck_s``."""

from __future__ import annotations

from collections.abc import Callable

from bot.domain.model import Crs, Level, MapUnit
from bot.geo.router import GridMap
from bot.services.env import MapHolder
from bot.services.maps import import_map
from bot.services.ports import BaseUnitOfWork

POINT = (39.905, 119.605)  # GCJ-02, inside the one grid of either map below


def square(x: float, y: float, size: float = 0.01) -> dict[str, object]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def map_with_grid(code: str, name: str) -> list[MapUnit]:
    """A district down to one grid covering ``POINT``; the grid's code and name vary."""
    area = square(119.6, 39.9)
    chain = [
        ("130302", "海港区", Level.DISTRICT, None),
        ("130302006", "燕山大街街道", Level.STREET, "130302"),
        ("130302006001", "天洋新城社区", Level.COMMUNITY, "130302006"),
        (code, name, Level.GRID, "130302006001"),
    ]
    return [
        MapUnit(code=c, name=n, level=lv, parent_code=p, geometry=area, crs=Crs.GCJ02)
        for c, n, lv, p in chain
    ]


async def refreshed(holder: MapHolder, make_uow: Callable[[], BaseUnitOfWork]) -> GridMap:
    async with make_uow() as uow:
        grid_map = await holder.refresh(uow)
    assert grid_map is not None
    return grid_map


def routed_code(grid_map: GridMap) -> str | None:
    grid = grid_map.route(*POINT, Crs.GCJ02).grid
    return grid.code if grid else None


async def test_a_new_map_version_is_loaded_and_an_unchanged_one_is_not_rebuilt(
    make_uow: Callable[[], BaseUnitOfWork],
) -> None:
    holder = MapHolder(tolerance_m=300)
    first = await import_map(make_uow(), map_with_grid("130302006001001", "第1网格"), replace=False)
    loaded = await refreshed(holder, make_uow)
    assert (loaded.version, routed_code(loaded)) == (first.version, "130302006001001")

    assert await refreshed(holder, make_uow) is loaded
    assert holder.current() is loaded

    # Another process re-draws the community: its one grid now has a new code.
    second = await import_map(make_uow(), map_with_grid("130302006001009", "第9网格"), replace=True)
    assert second.version > first.version
    assert holder.current() is loaded  # nothing changes until the holder is refreshed

    reloaded = await refreshed(holder, make_uow)
    assert reloaded is not loaded
    assert (reloaded.version, routed_code(reloaded)) == (second.version, "130302006001009")
    assert await refreshed(holder, make_uow) is reloaded


async def test_the_stored_version_is_looked_up_at_most_once_per_recheck_interval(
    make_uow: Callable[[], BaseUnitOfWork],
) -> None:
    clock = [100.0]
    holder = MapHolder(tolerance_m=300, recheck_s=1.0, monotonic=lambda: clock[0])
    await import_map(make_uow(), map_with_grid("130302006001001", "第1网格"), replace=False)
    loaded = await refreshed(holder, make_uow)
    await import_map(make_uow(), map_with_grid("130302006001009", "第9网格"), replace=True)

    clock[0] += 0.9  # the dispatcher refreshes before every update: not looked up yet
    assert await refreshed(holder, make_uow) is loaded

    clock[0] += 0.1
    reloaded = await refreshed(holder, make_uow)
    assert routed_code(reloaded) == "130302006001009"
