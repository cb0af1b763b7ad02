"""Routing a point to its grid: inside, shared borders, near misses, CRS conversion, paths."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.model import Crs, Level, MapUnit
from bot.geo.crs import gcj02_to_bd09, gcj02_to_wgs84
from bot.geo.router import GridMap, RouteStatus

# Two 0.01° squares side by side in GCJ-02 (≈ 850 m × 1.1 km in Qinhuangdao), a third one
# touching only at a corner. Codes are listed out of order on purpose.
WEST, EAST, CORNER = "130302001001002", "130302001001001", "130302001001003"


def square(x0: float, y0: float, side: float = 0.01) -> dict[str, Any]:
    ring = [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def units(crs: Crs = Crs.GCJ02) -> list[MapUnit]:
    def unit(code: str, level: Level, parent: str | None, geom: dict[str, Any]) -> MapUnit:
        return MapUnit(
            code=code, name=f"u{code}", level=level, parent_code=parent, geometry=geom, crs=crs
        )

    return [
        unit(WEST, Level.GRID, "130302001001", square(119.60, 39.93)),
        unit(EAST, Level.GRID, "130302001001", square(119.61, 39.93)),
        unit(CORNER, Level.GRID, "130302001001", square(119.62, 39.94)),
        unit("130302001001", Level.COMMUNITY, "130302001", square(119.60, 39.93, 0.03)),
        unit("130302001", Level.STREET, "130302", square(119.60, 39.93, 0.03)),
        unit("130302", Level.DISTRICT, "130300", square(119.60, 39.93, 0.03)),
    ]


@pytest.fixture(scope="module")
def gridmap() -> GridMap:
    return GridMap(units(), version=7)


def test_a_point_inside_a_grid_routes_there_with_its_full_path(gridmap: GridMap) -> None:
    result = gridmap.route(39.935, 119.605, Crs.GCJ02)
    assert result.status is RouteStatus.INSIDE
    assert result.grid is not None and result.grid.code == WEST
    assert [(ref.code, ref.level) for ref in result.path] == [
        (WEST, Level.GRID),
        ("130302001001", Level.COMMUNITY),
        ("130302001", Level.STREET),
        ("130302", Level.DISTRICT),
    ]
    assert result.distance_m == 0.0


def test_a_point_on_a_shared_border_goes_to_the_lowest_code(gridmap: GridMap) -> None:
    result = gridmap.route(39.935, 119.61, Crs.GCJ02)
    assert result.status is RouteStatus.BOUNDARY
    assert result.grid is not None and result.grid.code == EAST


def test_shared_border_routing_does_not_depend_on_the_order_units_are_given() -> None:
    for ordering in (units(), list(reversed(units()))):
        result = GridMap(ordering).route(39.935, 119.61, Crs.GCJ02)
        assert result.grid is not None and result.grid.code == EAST


def test_a_point_just_outside_goes_to_the_nearest_grid_within_tolerance(gridmap: GridMap) -> None:
    result = gridmap.route(39.935, 119.5990, Crs.GCJ02)  # 0.001° of longitude ≈ 85 m west
    assert result.status is RouteStatus.NEAREST
    assert result.grid is not None and result.grid.code == WEST
    assert result.distance_m == pytest.approx(85.4, abs=1.0)
    assert [ref.level for ref in result.path][-1] is Level.DISTRICT


def test_a_near_miss_beyond_a_smaller_tolerance_is_outside(gridmap: GridMap) -> None:
    result = gridmap.route(39.935, 119.5990, Crs.GCJ02, tolerance_m=50)
    assert result.status is RouteStatus.OUTSIDE


def test_a_point_far_from_every_grid_is_outside(gridmap: GridMap) -> None:
    result = gridmap.route(39.935, 119.55, Crs.GCJ02)
    assert result.status is RouteStatus.OUTSIDE
    assert result.grid is None and result.path == () and result.distance_m is None


def test_a_phone_point_is_converted_before_routing_near_a_border(gridmap: GridMap) -> None:
    # 50 m east of the shared border on the GCJ-02 map; the raw WGS-84 numbers lie ~500 m
    # further west, inside the other grid, so skipping the conversion misroutes the report.
    wgs = gcj02_to_wgs84(39.935, 119.6106)
    converted = gridmap.route(*wgs)
    unconverted = gridmap.route(*wgs, Crs.GCJ02)
    assert converted.grid is not None and converted.grid.code == EAST
    assert unconverted.grid is not None and unconverted.grid.code == WEST


def test_a_baidu_point_is_converted_too(gridmap: GridMap) -> None:
    result = gridmap.route(*gcj02_to_bd09(39.935, 119.6106), Crs.BD09)
    assert result.grid is not None and result.grid.code == EAST


def test_neighbours_share_an_edge_not_just_a_corner(gridmap: GridMap) -> None:
    assert [ref.code for ref in gridmap.neighbours(WEST)] == [EAST]
    assert [ref.code for ref in gridmap.neighbours(EAST)] == [WEST]
    assert gridmap.neighbours(CORNER) == []


def test_the_map_describes_itself(gridmap: GridMap) -> None:
    assert gridmap.version == 7
    assert gridmap.crs is Crs.GCJ02
    assert gridmap.unit("130302001").level is Level.STREET
    assert gridmap.geometry(WEST).bounds == pytest.approx((119.60, 39.93, 119.61, 39.94))
    assert gridmap.bounds == pytest.approx((119.60, 39.93, 119.63, 39.95))
    assert gridmap.counts_by_level() == {
        Level.DISTRICT: 1,
        Level.STREET: 1,
        Level.COMMUNITY: 1,
        Level.GRID: 3,
    }
    assert "130302" in gridmap and "999" not in gridmap
    with pytest.raises(KeyError):
        gridmap.unit("999")


def test_a_map_mixing_coordinate_systems_is_refused() -> None:
    with pytest.raises(ValueError, match="mixes coordinate systems"):
        GridMap([*units(Crs.GCJ02)[:1], *units(Crs.WGS84)[1:]])


def test_a_map_without_grids_is_refused() -> None:
    with pytest.raises(ValueError, match="no grid-level units"):
        GridMap(units()[3:])
