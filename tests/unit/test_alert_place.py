"""Which grid and where in it: what a worker's alert says about the place of a report."""

from __future__ import annotations

import pytest

from bot.domain.model import Level, MapUnit
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


def _square(x0: float, size: float) -> dict[str, object]:
    ring = [[x0, 39.90], [x0 + size, 39.90], [x0 + size, 39.90 + size], [x0, 39.90 + size]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


# A map digitised down to communities in one street, to districts elsewhere: no grids.
COARSE = GridMap(
    [
        MapUnit(
            code="D1",
            name="山海关区",
            level=Level.DISTRICT,
            parent_code=None,
            geometry=_square(119.60, 0.09),
        ),
        MapUnit(
            code="S1",
            name="西港路街道",
            level=Level.STREET,
            parent_code=None,
            geometry=_square(119.50, 0.09),
        ),
        MapUnit(
            code="C1",
            name="东环社区",
            level=Level.COMMUNITY,
            parent_code="S1",
            geometry=_square(119.50, 0.03),
        ),
    ]
)


@pytest.mark.parametrize(
    ("code", "lon", "english", "chinese"),
    [
        (
            "D1",
            119.645,
            ["District: 山海关区", "Where: Centre of the district"],
            ["区：山海关区", "位置：区中部"],
        ),
        (
            "S1",
            119.545,
            ["Street: 西港路街道", "Where: Centre of the street"],
            ["街道：西港路街道", "位置：街道中部"],
        ),
        (
            "C1",
            119.515,
            ["Community: 东环社区 (西港路街道)", "Where: Centre of the community"],
            ["社区：东环社区（西港路街道）", "位置：社区中部"],
        ),
    ],
)
def test_a_case_of_a_unit_without_grids_names_the_unit_by_its_level(
    code: str, lon: float, english: list[str], chinese: list[str]
) -> None:
    lat = 39.945 if code != "C1" else 39.915
    place = place_of(COARSE, code, *gcj02_to_wgs84(lat, lon))
    assert place_lines(translator("en"), place) == english
    assert place_lines(translator("zh_CN"), place) == chinese
