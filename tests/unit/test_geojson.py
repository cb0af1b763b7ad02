"""Reading boundary files as real map tools export them, and refusing the ones we cannot trust."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import shape as shape_of

from bot.domain.model import Crs, Level
from bot.geo.geojson import (
    MapFileError,
    RepairableGeometryError,
    ShapedUnit,
    load_geojson,
    overlaps,
    parse_geojson,
)

BOUNDARIES = (
    Path(__file__).resolve().parents[2].parent / "shared" / "data" / "realworld" / "boundaries"
)


def feature(props: dict[str, Any], ring: list[list[float]]) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


BOWTIE = [[119.60, 39.90], [119.61, 39.91], [119.61, 39.90], [119.60, 39.91], [119.60, 39.90]]


def square(x0: float, y0: float, side: float = 0.01) -> list[list[float]]:
    return [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side], [x0, y0]]


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def test_a_datav_export_loads_as_districts_under_the_city() -> None:
    units, warnings = load_geojson(BOUNDARIES / "qinhuangdao_130300_districts.json")
    assert len(units) == 7
    haigang = next(u for u in units if u.code == "130302")
    assert haigang.name == "海港区"
    assert haigang.level is Level.DISTRICT
    assert haigang.parent_code == "130300"  # from DataV's acroutes list
    assert haigang.crs is Crs.GCJ02
    assert haigang.geometry["type"] == "MultiPolygon"
    assert warnings == []


def test_a_single_district_file_loads_with_its_numeric_adcode_as_text() -> None:
    units, _ = load_geojson(BOUNDARIES / "district_130303.json")
    assert [(u.code, u.name) for u in units] == [("130303", "山海关区")]


def test_properties_are_found_under_other_common_names() -> None:
    data = collection(
        feature(
            {"CODE": 130302001, "名称": "燕山大街街道", "parent": {"adcode": 130302}},
            square(119.6, 39.9),
        )
    )
    (unit,), _ = parse_geojson(data)
    assert (unit.code, unit.name, unit.level, unit.parent_code) == (
        "130302001",
        "燕山大街街道",
        Level.STREET,
        "130302",
    )


def test_the_caller_can_name_the_properties_and_the_level() -> None:
    data = [feature({"GRID_ID": "A-7", "GRID_NAME": "七号网格", "UP": "C1"}, square(119.6, 39.9))]
    (unit,), _ = parse_geojson(
        data,
        code_key="GRID_ID",
        name_key="GRID_NAME",
        parent_key="UP",
        level=Level.GRID,
        crs=Crs.BD09,
    )
    assert (unit.code, unit.name, unit.parent_code, unit.level, unit.crs) == (
        "A-7",
        "七号网格",
        "C1",
        Level.GRID,
        Crs.BD09,
    )


def test_a_self_intersecting_ring_is_refused_by_name_with_the_reason() -> None:
    data = [
        feature({"code": "130302001001002", "name": "好网格"}, square(119.62, 39.90)),
        feature({"code": "130302001001001", "name": "蝴蝶网格"}, BOWTIE),
    ]
    with pytest.raises(RepairableGeometryError) as caught:
        parse_geojson(data)
    assert str(caught.value) == (
        "蝴蝶网格 (130302001001001): invalid geometry (Self-intersection[119.605 39.905])"
    )


def test_every_invalid_unit_is_counted_in_the_one_line_refusal() -> None:
    data = [
        feature(
            {"code": f"13030200100100{i}", "name": f"蝴蝶{i}"},
            [[x + 0.02 * i, y] for x, y in BOWTIE],
        )
        for i in range(1, 4)
    ]
    with pytest.raises(RepairableGeometryError, match=r"^蝴蝶1 .* \(and 2 more invalid units\)$"):
        parse_geojson(data)


def test_a_self_intersecting_ring_is_repaired_on_request_with_a_warning() -> None:
    (unit,), warnings = parse_geojson(
        [feature({"code": "130302001001001", "name": "蝴蝶网格"}, BOWTIE)], repair=True
    )
    assert unit.geometry["type"] == "MultiPolygon"
    assert len(unit.geometry["coordinates"]) == 2
    assert warnings == [
        "蝴蝶网格 (130302001001001): invalid geometry repaired (Self-intersection[119.605 39.905])"
    ]


@pytest.mark.parametrize("repair", [False, True])
def test_a_ring_with_no_area_is_refused_by_name_even_with_repair(repair: bool) -> None:
    flat = [[119.60, 39.90], [119.61, 39.90], [119.62, 39.90], [119.60, 39.90]]
    with pytest.raises(MapFileError, match=r"扁平网格.*no area left") as caught:
        parse_geojson(
            [feature({"code": "130302001001001", "name": "扁平网格"}, flat)], repair=repair
        )
    assert not isinstance(caught.value, RepairableGeometryError)  # --repair would not help


def test_duplicate_codes_are_refused() -> None:
    data = [
        feature({"code": "130302001", "name": "甲"}, square(119.60, 39.9)),
        feature({"code": "130302001", "name": "乙"}, square(119.61, 39.9)),
    ]
    with pytest.raises(MapFileError, match=r"duplicate code 130302001 \(甲, 乙\)"):
        parse_geojson(data)


def test_overlapping_units_of_one_level_are_reported_with_their_area() -> None:
    data = [
        feature({"code": "130302001", "name": "甲"}, square(119.600, 39.9)),
        feature({"code": "130302002", "name": "乙"}, square(119.609, 39.9)),  # 0.001° overlap
        feature({"code": "130302003", "name": "丙"}, square(119.619, 39.9, 0.001)),  # touches 乙
    ]
    _, warnings = parse_geojson(data)
    assert len(warnings) == 1
    assert "130302001" in warnings[0] and "130302002" in warnings[0]
    area = float(re.search(r"overlap by (\d+) m²", warnings[0]).group(1))  # type: ignore[union-attr]
    assert area == pytest.approx(85.4 * 1112, rel=0.01)  # 0.001° of lon × 0.01° of lat


def test_overlaps_against_other_units_pair_each_unit_with_the_others_only() -> None:
    units, _ = parse_geojson(
        [
            feature({"code": "130302001001001", "name": "新甲"}, square(119.600, 39.9)),
            feature({"code": "130302001001002", "name": "新乙"}, square(119.605, 39.9)),
            feature({"code": "130302001001009", "name": "旧"}, square(119.609, 39.9)),
            feature({"code": "130302001009", "name": "旧社区"}, square(119.600, 39.9)),
        ]
    )
    shaped = [ShapedUnit(u, shape_of(u.geometry)) for u in units]
    found = overlaps(shaped[:2], shaped[2:])
    # 新甲/新乙 overlap each other, and 旧社区 covers both, but neither pair is "new vs other
    # of the same level": only the two grids against 旧 are.
    assert [(o.first.name, o.second.name) for o in found] == [("新甲", "旧"), ("新乙", "旧")]
    assert [round(o.area_m2) for o in found] == [
        pytest.approx(85.4 * 1112, rel=0.01),
        pytest.approx(6 * 85.4 * 1112, rel=0.01),
    ]


def test_swapped_latitude_and_longitude_are_refused() -> None:
    swapped = [[y, x] for x, y in square(119.6, 39.9)]
    with pytest.raises(MapFileError, match="out of range"):
        parse_geojson([feature({"code": "130302001", "name": "甲"}, swapped)])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"foo": 1}, "not GeoJSON"),
        ("text", "not GeoJSON"),
        ([{"type": "Point"}], "item #1 is not a Feature"),
        (collection(), "no polygon features"),
        (
            [
                {
                    "type": "Feature",
                    "properties": {"code": "1"},
                    "geometry": {"type": "Point", "coordinates": [1, 2]},
                }
            ],
            "Point is not a Polygon",
        ),
        ([feature({"name": "无码"}, square(119.6, 39.9))], "无码.*no code property"),
    ],
)
def test_files_that_are_not_grid_maps_are_refused_with_one_line(data: object, message: str) -> None:
    with pytest.raises(MapFileError, match=message) as caught:
        parse_geojson(data)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MapFileError, match="no such file"):
        load_geojson(tmp_path / "absent.geojson")


def test_a_file_that_is_not_json_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "map.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [,]}', encoding="utf-8")
    with pytest.raises(MapFileError, match=r"map.geojson: not JSON \(line 2"):
        load_geojson(path)


def test_progress_is_reported_up_to_the_total(tmp_path: Path) -> None:
    path = tmp_path / "grids.geojson"
    features = [
        feature(
            {"code": f"130302001001{i:03d}", "name": f"网格{i}"}, square(119.6 + i * 0.01, 39.9)
        )
        for i in range(1500)
    ]
    path.write_text(json.dumps(collection(*features)), encoding="utf-8")
    seen: list[tuple[int, int]] = []
    units, _ = load_geojson(path, progress=lambda done, total: seen.append((done, total)))
    assert len(units) == 1500
    assert seen == [(1000, 1500), (1500, 1500)]
