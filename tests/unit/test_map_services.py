"""The grid map use cases on the in-memory unit of work: import, statistics, route JSON."""

from __future__ import annotations

import pytest

from bot.domain.model import Crs, Level, MapUnit
from bot.geo.router import GridMap, RouteStatus
from bot.services.maps import (
    MapImportRefused,
    MapUnavailable,
    import_map,
    map_stats,
    route_document,
    route_point,
)
from tests.fakes import FakeUnitOfWork


def square(x: float, y: float, size: float = 0.01) -> dict[str, object]:
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def unit(
    code: str, level: Level, parent: str | None, x: float = 119.6, crs: Crs = Crs.GCJ02
) -> MapUnit:
    return MapUnit(
        code=code,
        name=f"单元{code}",
        level=level,
        parent_code=parent,
        geometry=square(x, 39.9),
        crs=crs,
    )


def small_map() -> list[MapUnit]:
    return [
        unit("130302", Level.DISTRICT, "130300"),
        unit("130302001", Level.STREET, "130302"),
        unit("130302001001", Level.COMMUNITY, "130302001"),
        unit("130302001001001", Level.GRID, "130302001001"),
    ]


async def test_a_top_level_parent_outside_the_map_is_dropped_with_a_warning() -> None:
    uow = FakeUnitOfWork()
    outcome = await import_map(uow, small_map(), replace=False)
    assert outcome.version == 1
    assert outcome.imported == {
        Level.DISTRICT: 1,
        Level.STREET: 1,
        Level.COMMUNITY: 1,
        Level.GRID: 1,
    }
    assert outcome.warnings == [
        "parent 130300 of 1 district unit(s) is not in the map; "
        "they are imported as top-level units"
    ]
    _, stored = await uow.regions.load_units()
    assert next(u for u in stored if u.code == "130302").parent_code is None


async def test_a_grid_whose_community_nobody_has_goes_under_the_district_containing_it() -> None:
    uow = FakeUnitOfWork()
    await import_map(uow, [unit("130302", Level.DISTRICT, "130300")], replace=False)
    orphan = unit("130302001009001", Level.GRID, "130302001009")
    outcome = await import_map(uow, [orphan], replace=False)
    assert outcome.warnings == [
        "parent 130302001009 of 1 grid unit(s) is not in the map; "
        "they are placed under 单元130302 (130302), which contains them"
    ]
    _, stored = await uow.regions.load_units()
    assert next(u for u in stored if u.code == orphan.code).parent_code == "130302"


async def test_a_file_of_grids_alone_imports_them_at_the_top() -> None:
    uow = FakeUnitOfWork()
    grids = [unit("130302001001001", Level.GRID, "130302001001")]
    outcome = await import_map(uow, grids, replace=False)
    assert outcome.version == 1
    assert outcome.warnings == [
        "parent 130302001001 of 1 grid unit(s) is not in the map; "
        "they are imported as top-level units"
    ]


async def test_a_stored_top_level_unit_is_hung_under_a_coarser_unit_imported_later() -> None:
    uow = FakeUnitOfWork()
    await import_map(uow, [unit("130302001001", Level.COMMUNITY, "130302001")], replace=False)
    outcome = await import_map(uow, [unit("130302", Level.DISTRICT, None)], replace=False)
    assert outcome.imported == {Level.DISTRICT: 1}  # the re-hung community is not counted
    assert outcome.warnings == [
        "单元130302001001 (130302001001), stored at the top, is now under 单元130302 (130302)"
    ]
    _, stored = await uow.regions.load_units()
    assert next(u for u in stored if u.code == "130302001001").parent_code == "130302"


async def test_a_grid_may_join_a_community_stored_by_an_earlier_import() -> None:
    uow = FakeUnitOfWork()
    await import_map(uow, small_map(), replace=False)
    outcome = await import_map(
        uow, [unit("130302001001002", Level.GRID, "130302001001", 119.61)], replace=False
    )
    assert outcome.version == 2
    assert outcome.in_force[Level.GRID] == 2  # merged: the first grid stays


async def test_replace_retires_the_units_missing_from_the_file() -> None:
    uow = FakeUnitOfWork()
    await import_map(uow, small_map(), replace=False)
    moved = [u for u in small_map() if u.level is not Level.GRID]
    moved.append(unit("130302001001007", Level.GRID, "130302001001", 119.62))
    outcome = await import_map(uow, moved, replace=True)
    _, stored = await uow.regions.load_units()
    assert [u.code for u in stored if u.level is Level.GRID] == ["130302001001007"]
    assert outcome.in_force[Level.GRID] == 1


async def test_a_replace_with_districts_alone_leaves_a_map_routing_to_its_districts() -> None:
    uow = FakeUnitOfWork()
    await import_map(uow, small_map(), replace=False)
    districts_only = [unit("130303", Level.DISTRICT, None, 119.7)]
    outcome = await import_map(uow, districts_only, replace=True)
    assert outcome.in_force == {Level.DISTRICT: 1}
    result = await route_point(uow, 39.905, 119.705, Crs.GCJ02)
    assert result.unit is not None and result.unit.code == "130303"


async def test_a_file_in_another_coordinate_system_is_refused_when_merging() -> None:
    uow = FakeUnitOfWork()
    await import_map(uow, small_map(), replace=False)
    wgs = [unit("130302001001003", Level.GRID, "130302001001", 119.63, crs=Crs.WGS84)]
    with pytest.raises(MapImportRefused, match=r"mix coordinate systems \(gcj02, wgs84\)"):
        await import_map(uow, wgs, replace=False)
    assert await uow.regions.map_version() == 1


async def test_stats_of_an_empty_database_say_version_zero_and_no_bounds() -> None:
    found = await map_stats(FakeUnitOfWork())
    assert (found.version, found.counts, found.crs, found.bounds) == (0, {}, None, None)


async def test_stats_give_counts_per_level_and_the_grids_bounds() -> None:
    uow = FakeUnitOfWork()
    await import_map(uow, small_map(), replace=False)
    found = await map_stats(uow)
    assert found.version == 1 and found.crs is Crs.GCJ02
    assert found.counts[Level.GRID] == 1
    assert found.bounds == pytest.approx((119.6, 39.9, 119.61, 39.91))


def test_the_route_document_of_a_point_inside_lists_the_path_up_to_the_district() -> None:
    grid_map = GridMap([*small_map()[1:], unit("130302", Level.DISTRICT, None)])
    document = route_document(grid_map.route(39.905, 119.605, Crs.GCJ02))
    assert document["status"] == "inside"
    assert document["grid"] == {"code": "130302001001001", "name": "单元130302001001001"}
    assert document["unit"] == {
        "level": "grid",
        "code": "130302001001001",
        "name": "单元130302001001001",
    }
    assert [step["level"] for step in document["path"]] == [
        "grid",
        "community",
        "street",
        "district",
    ]
    assert document["distance_m"] == 0.0


def test_the_route_document_of_a_far_point_has_no_grid_and_no_distance() -> None:
    result = GridMap(small_map()).route(43.72, 10.40)
    assert result.status is RouteStatus.OUTSIDE
    assert route_document(result) == {
        "status": "outside",
        "unit": None,
        "grid": None,
        "path": [],
        "distance_m": None,
    }


def test_the_route_document_of_a_map_without_grids_names_the_unit_and_no_grid() -> None:
    document = route_document(GridMap(small_map()[:2]).route(39.905, 119.605, Crs.GCJ02))
    assert document["status"] == "inside"
    assert document["unit"] == {"level": "street", "code": "130302001", "name": "单元130302001"}
    assert document["grid"] is None
    assert [step["code"] for step in document["path"]] == ["130302001", "130302"]


async def test_routing_on_an_empty_database_says_no_map_is_imported() -> None:
    with pytest.raises(MapUnavailable, match="no map imported yet"):
        await route_point(FakeUnitOfWork(), 39.905, 119.605)


async def test_a_point_is_routed_on_the_stored_map_in_its_coordinate_system() -> None:
    uow = FakeUnitOfWork()
    await import_map(uow, small_map(), replace=False)
    result = await route_point(uow, 39.905, 119.605, Crs.GCJ02)
    assert result.grid is not None and result.grid.code == "130302001001001"
