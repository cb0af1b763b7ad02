"""The committed sample map: Qinhuangdao's real counts, clean tessellation, reproducible."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from bot.domain.model import Level, MapUnit
from bot.geo.geojson import load_geojson
from bot.geo.samplemap import SAMPLE_MAP_PATH, dumps, sample_map_geojson

BOUNDARIES = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realworld" / "boundaries"
)


@pytest.fixture(scope="module")
def units() -> list[MapUnit]:
    loaded, warnings = load_geojson(SAMPLE_MAP_PATH)
    assert warnings == []  # no repairs, no overlaps, no dangling parents
    return loaded


@pytest.fixture(scope="module")
def shapes(units: list[MapUnit]) -> dict[str, BaseGeometry]:
    return {u.code: shape(u.geometry) for u in units}


def test_the_map_has_qinhuangdaos_counts(units: list[MapUnit]) -> None:
    counts = Counter(u.level for u in units)
    assert counts == {Level.DISTRICT: 4, Level.STREET: 23, Level.COMMUNITY: 186, Level.GRID: 1485}


def test_codes_nest_under_their_parents(units: list[MapUnit]) -> None:
    by_code = {u.code: u for u in units}
    for unit in units:
        if unit.level is not Level.DISTRICT:
            parent = by_code[unit.parent_code or ""]
            assert unit.code.startswith(parent.code) and len(unit.code) == len(parent.code) + 3
            assert parent.level.depth == unit.level.depth - 1


def test_each_level_tessellates_its_parent(
    units: list[MapUnit], shapes: dict[str, BaseGeometry]
) -> None:
    children: dict[str, list[BaseGeometry]] = defaultdict(list)
    for unit in units:
        if unit.parent_code in shapes:
            children[unit.parent_code].append(shapes[unit.code])
    assert len(children) == 4 + 23 + 186
    for code, parts in children.items():
        assert bool(shapely.coverage_is_valid(parts)), code  # no overlaps, edges matched
        union = shapely.union_all(parts)
        gap = shapes[code].symmetric_difference(union).area
        assert gap <= shapes[code].area * 1e-9, code


def test_a_whole_level_has_no_overlaps(
    units: list[MapUnit], shapes: dict[str, BaseGeometry]
) -> None:
    grids = [shapes[u.code] for u in units if u.level is Level.GRID]
    assert bool(shapely.coverage_is_valid(grids))


def test_districts_lie_inside_their_real_outlines(
    units: list[MapUnit], shapes: dict[str, BaseGeometry]
) -> None:
    real, _ = load_geojson(BOUNDARIES / "qinhuangdao_130300_districts.json")
    outlines = {u.code: shape(u.geometry) for u in real}
    for unit in units:
        if unit.level is Level.DISTRICT:
            assert outlines[unit.code].buffer(1e-6).contains(shapes[unit.code]), unit.name


def test_the_demo_community_is_in_haigang_under_yanshan_street(units: list[MapUnit]) -> None:
    by_code = {u.code: u for u in units}
    community = next(u for u in units if u.name == "天洋新城社区")
    street = by_code[community.parent_code or ""]
    assert street.name == "燕山大街街道"
    assert by_code[street.parent_code or ""].name == "海港区"
    assert any(u.name == "天洋新城社区第3网格" and u.parent_code == community.code for u in units)


@pytest.mark.parametrize(
    ("district", "street", "community"),
    [
        ("海港区", "燕山大街街道", "天洋新城社区"),
        ("海港区", "东山街道", "东经路社区"),
        ("海港区", "黄河道街道", None),
    ],
)
def test_the_real_names_the_issue_lists_are_on_the_map(
    units: list[MapUnit], district: str, street: str, community: str | None
) -> None:
    by_code = {u.code: u for u in units}
    streets = [u for u in units if u.level is Level.STREET and u.name == street]
    found = [s for s in streets if by_code[s.parent_code or ""].name == district]
    assert len(found) == 1, f"{district} {street}"
    if community is not None:
        under = [u.name for u in units if u.parent_code == found[0].code]
        assert community in under


def test_grid_names_carry_their_community_and_number(units: list[MapUnit]) -> None:
    by_code = {u.code: u for u in units}
    for grid in (u for u in units if u.level is Level.GRID):
        community = by_code[grid.parent_code or ""].name
        assert re.fullmatch(re.escape(community) + r"第\d+网格", grid.name)


def test_names_are_unique_where_people_would_confuse_them(units: list[MapUnit]) -> None:
    communities = [u.name for u in units if u.level is Level.COMMUNITY]
    assert len(set(communities)) == len(communities)


def test_the_committed_file_is_small_and_regenerates_byte_for_byte() -> None:
    committed = SAMPLE_MAP_PATH.read_text(encoding="utf-8")
    assert len(committed.encode()) <= 3_000_000
    assert dumps(sample_map_geojson(BOUNDARIES)) == committed


def test_coordinates_are_rounded_to_six_decimals() -> None:
    numbers = re.findall(r"-?\d+\.(\d+)", SAMPLE_MAP_PATH.read_text(encoding="utf-8"))
    assert numbers and max(len(decimals) for decimals in numbers) <= 6
    assert json.loads(SAMPLE_MAP_PATH.read_text(encoding="utf-8"))["type"] == "FeatureCollection"
