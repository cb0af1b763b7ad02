"""Which grid and where in it: what a worker's alert says about the place of a report."""

from __future__ import annotations

import pytest

from bot.geo.crs import gcj02_to_wgs84
from bot.geo.geojson import load_geojson
from bot.geo.place import Part, place_of
from bot.geo.router import GridMap
from bot.geo.samplemap import SAMPLE_MAP_PATH
from bot.i18n import translator
from bot.services.alerts import place_lines

DEMO_GRID = "130302006001003"  # 天洋新城社区第3网格


@pytest.fixture(scope="module")
def gridmap() -> GridMap:
    units, _ = load_geojson(SAMPLE_MAP_PATH)
    return GridMap(units)


def _corner(gridmap: GridMap, east: bool, north: bool) -> tuple[float, float]:
    x0, y0, x1, y1 = gridmap.geometry(DEMO_GRID).bounds
    x = x1 - 0.0001 if east else x0 + 0.0001
    y = y1 - 0.0001 if north else y0 + 0.0001
    return gcj02_to_wgs84(y, x)


def test_a_place_names_the_grid_its_community_and_street(gridmap: GridMap) -> None:
    place = place_of(gridmap, DEMO_GRID, *_corner(gridmap, east=True, north=True))
    assert (place.grid, place.community, place.street) == (
        "天洋新城社区第3网格",
        "天洋新城社区",
        "燕山大街街道",
    )


@pytest.mark.parametrize(
    ("east", "north", "part"),
    [
        (True, True, Part.NORTH_EAST),
        (False, True, Part.NORTH_WEST),
        (True, False, Part.SOUTH_EAST),
        (False, False, Part.SOUTH_WEST),
    ],
)
def test_a_point_near_a_corner_of_the_grid_is_in_that_part(
    gridmap: GridMap, east: bool, north: bool, part: Part
) -> None:
    assert place_of(gridmap, DEMO_GRID, *_corner(gridmap, east, north)).part is part


def test_the_alert_lines_read_in_each_language(gridmap: GridMap) -> None:
    place = place_of(gridmap, DEMO_GRID, *_corner(gridmap, east=True, north=True))
    english = place_lines(translator("en"), place)
    assert english == [
        "Grid: 天洋新城社区第3网格 (天洋新城社区, 燕山大街街道)",
        "Where: North-east part of the grid, 天洋新城社区",
    ]
    chinese = place_lines(translator("zh_CN"), place)
    assert chinese == [
        "网格：天洋新城社区第3网格（天洋新城社区，燕山大街街道）",
        "位置：网格东北部，天洋新城社区",
    ]
