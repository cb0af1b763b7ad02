"""A synthetic but plausible grid map of Qinhuangdao's urban area, for demos and tests.

Real numbers, invented shapes: 23 streets, 186 communities and 1,485 grids under the four
urban districts, inside the districts' real outlines (GCJ-02, from the DataV export in
shared/data/realworld/boundaries) cut to their built-up parts. Seeds are placed top-down
(streets, then communities, then grids, each a Lloyd-relaxed Voronoi of its parent); the grid
cells are then one Voronoi diagram per district cut on a 1e-6° grid (≈ 0.1 m), and every upper
level is the union of its grids, so each level tessellates its parent exactly. Everything is
drawn from one seeded RNG: ``python -m bot.geo.samplemap`` rewrites the committed file byte
for byte.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from bot.domain.model import Level

SEED = 130300  # Qinhuangdao's adcode
GRID_SIZE = 1e-6
STREETS, COMMUNITIES, GRIDS = 23, 186, 1485
LLOYD_ROUNDS = 3
SAMPLE_MAP_PATH = Path(__file__).resolve().parent.parent / "data" / "sample_map.geojson"
DISTRICTS_FILE = "qinhuangdao_130300_districts.json"


@dataclass(frozen=True, slots=True)
class DistrictPlan:
    adcode: str
    name: str
    urban_box: tuple[float, float, float, float]  # GCJ-02 lon/lat box of the built-up area
    streets: tuple[str, ...]


PLAN = (
    DistrictPlan(
        "130302",
        "海港区",
        (119.50, 39.89, 119.67, 39.99),
        (
            "文化路街道",
            "海滨路街道",
            "建设大街街道",
            "河东街道",
            "西港路街道",
            "燕山大街街道",
            "港城大街街道",
            "东环路街道",
            "白塔岭街道",
            "东山街道",
            "黄河道街道",
            "海港镇",
            "北港镇",
        ),
    ),
    DistrictPlan(
        "130303",
        "山海关区",
        (119.70, 39.97, 119.80, 40.04),
        ("南山街道", "路南街道", "古城街道", "西关街道", "船厂路街道"),
    ),
    DistrictPlan(
        "130304",
        "北戴河区",
        (119.38, 39.80, 119.54, 39.87),
        ("西山街道", "东山街道", "海滨镇", "戴河镇"),
    ),
    DistrictPlan("130306", "抚宁区", (119.20, 39.85, 119.28, 39.91), ("骊城街道",)),
)

# Real communities, keyed by (district adcode, street); the first is the easy demo grid.
KNOWN_COMMUNITIES = {
    ("130302", "燕山大街街道"): ("天洋新城社区",),
    ("130302", "东山街道"): ("东经路社区",),
}
_NAME_HEADS = (
    "文化",
    "和平",
    "建国",
    "红旗",
    "新华",
    "友谊",
    "民族",
    "光明",
    "朝阳",
    "幸福",
    "海阳",
    "港城",
    "秀水",
    "金海",
    "碧海",
    "青云",
    "兴华",
    "东港",
    "西港",
    "南岭",
    "北岭",
    "迎宾",
    "太阳城",
    "燕山",
    "河滨",
    "铁路",
    "红星",
    "联峰",
    "望海",
    "石河",
    "汤河",
    "长城",
    "角山",
    "老龙",
    "鸽子窝",
    "渤海",
    "人民",
    "团结",
    "向阳",
    "新民",
    "永安",
    "康乐",
    "安居",
    "丽景",
    "锦绣",
    "华夏",
    "滨河",
    "园林",
    "松林",
    "桃园",
    "杏林",
)
_NAME_TAILS = ("里", "园", "苑", "路", "街", "新村", "小区", "花园", "家园", "北里", "南里")


def sample_map_geojson(boundaries: Path) -> dict[str, Any]:
    """The sample map as a GeoJSON FeatureCollection, from the districts file in ``boundaries``."""
    rng = random.Random(SEED)
    outlines = _district_outlines(boundaries / DISTRICTS_FILE)
    units: list[_Unit] = []
    geometry: dict[str, BaseGeometry] = {}
    communities = iter(_split(COMMUNITIES, sum(len(p.streets) for p in PLAN), rng, low=5, high=12))
    grids = iter(_split(GRIDS, COMMUNITIES, rng, low=5, high=12))
    names = _community_names(rng)
    for plan in PLAN:
        area = shapely.intersection(
            outlines[plan.adcode], box(*plan.urban_box), grid_size=GRID_SIZE
        )
        district_units, seeds = _district_plan(plan, area, communities, grids, names, rng)
        # One Voronoi diagram for all of the district's grids: neighbours then share exactly
        # the same edge vertices, which cutting each parent separately would not give.
        grid_units = [u for u in district_units if u.level is Level.GRID]
        geometry.update(zip((u.code for u in grid_units), _voronoi_cells(area, seeds), strict=True))
        units += district_units
    for level in (Level.COMMUNITY, Level.STREET, Level.DISTRICT):
        children: dict[str, list[BaseGeometry]] = {}
        for unit in units:
            if unit.level.depth == level.depth + 1 and unit.parent is not None:
                children.setdefault(unit.parent, []).append(geometry[unit.code])
        for code, parts in children.items():
            geometry[code] = shapely.coverage_union_all(parts)
    ordered = sorted(units, key=lambda u: (u.level.depth, u.code))
    return {
        "type": "FeatureCollection",
        "name": "gridsnap sample map: Qinhuangdao urban area (synthetic grids, GCJ-02)",
        "features": [_feature(u, geometry[u.code]) for u in ordered],
    }


@dataclass(frozen=True, slots=True)
class _Unit:
    code: str
    name: str
    level: Level
    parent: str | None


def _district_plan(
    plan: DistrictPlan,
    area: BaseGeometry,
    communities: Iterator[int],
    grids: Iterator[int],
    names: Iterator[str],
    rng: random.Random,
) -> tuple[list[_Unit], list[shapely.Point]]:
    """The district's units, and one seed per grid placed top-down (street, community, grid)."""
    units = [_Unit(plan.adcode, plan.name, Level.DISTRICT, None)]
    seeds: list[shapely.Point] = []
    street_cells = _partition(area, len(plan.streets), rng)
    for s, (street_name, street_cell) in enumerate(zip(plan.streets, street_cells, strict=True)):
        street = _Unit(f"{plan.adcode}{s + 1:03d}", street_name, Level.STREET, plan.adcode)
        units.append(street)
        known = KNOWN_COMMUNITIES.get((plan.adcode, street_name), ())
        for c, community_cell in enumerate(_partition(street_cell, next(communities), rng)):
            name = known[c] if c < len(known) else next(names)
            community = _Unit(f"{street.code}{c + 1:03d}", name, Level.COMMUNITY, street.code)
            units.append(community)
            for g, seed in enumerate(_relaxed_seeds(community_cell, next(grids), rng)):
                code, label = f"{community.code}{g + 1:03d}", f"{name}第{g + 1}网格"
                units.append(_Unit(code, label, Level.GRID, community.code))
                seeds.append(seed)
    return units, seeds


def dumps(collection: dict[str, Any]) -> str:
    """One feature per line: small, diff-friendly and byte-stable."""
    head = {k: v for k, v in collection.items() if k != "features"}
    lines = [
        json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in collection["features"]
    ]
    opening = json.dumps(head, ensure_ascii=False, separators=(",", ":"))[:-1]
    return opening + ',"features":[\n' + ",\n".join(lines) + "\n]}\n"


def _district_outlines(path: Path) -> dict[str, BaseGeometry]:
    features = json.loads(path.read_text(encoding="utf-8"))
    return {str(f["properties"]["adcode"]): shapely.geometry.shape(f["geometry"]) for f in features}


def _split(total: int, parts: int, rng: random.Random, *, low: int, high: int) -> list[int]:
    """``parts`` integers in [low, high] summing to ``total``: even shares, then shuffled about."""
    counts = [total // parts + (1 if i < total % parts else 0) for i in range(parts)]
    for _ in range(parts * 4):
        give, take = rng.randrange(parts), rng.randrange(parts)
        if give != take and counts[give] > low and counts[take] < high:
            counts[give] -= 1
            counts[take] += 1
    return counts


def _community_names(rng: random.Random) -> Iterator[str]:
    taken = {name for names in KNOWN_COMMUNITIES.values() for name in names}
    pool = [f"{h}{t}社区" for h in _NAME_HEADS for t in _NAME_TAILS]
    rng.shuffle(pool)
    return (name for name in pool if name not in taken)


def _partition(area: BaseGeometry, count: int, rng: random.Random) -> list[BaseGeometry]:
    """``count`` cells tessellating ``area``, north-west first like a reader scans."""
    return _voronoi_cells(area, _relaxed_seeds(area, count, rng))


def _relaxed_seeds(area: BaseGeometry, count: int, rng: random.Random) -> list[shapely.Point]:
    """Random seeds moved a few times to their cells' centroids (Lloyd), north-west first."""
    seeds = _random_points(area, count, rng)
    for _ in range(LLOYD_ROUNDS):
        seeds = [_inner_centroid(cell) for cell in _voronoi_cells(area, seeds)]
    return sorted(seeds, key=lambda p: (-round(p.y, 3), p.x))


def _voronoi_cells(area: BaseGeometry, seeds: Sequence[shapely.Point]) -> list[BaseGeometry]:
    diagram = shapely.voronoi_polygons(
        shapely.MultiPoint(seeds), extend_to=box(*area.bounds).buffer(0.01), ordered=True
    )
    cells = shapely.intersection(shapely.get_parts(diagram), area, grid_size=GRID_SIZE)
    return [_polygonal(cell) for cell in cells]


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _inner_centroid(cell: BaseGeometry) -> shapely.Point:
    centroid = cell.centroid
    return centroid if cell.contains(centroid) else cell.representative_point()


def _random_points(area: BaseGeometry, count: int, rng: random.Random) -> list[shapely.Point]:
    x0, y0, x1, y1 = area.bounds
    points: list[shapely.Point] = []
    while len(points) < count:
        point = shapely.Point(rng.uniform(x0, x1), rng.uniform(y0, y1))
        if area.contains(point):
            points.append(point)
    return points


def _feature(unit: _Unit, geom: BaseGeometry) -> dict[str, Any]:
    geometry = json.loads(shapely.to_geojson(geom))
    geometry["coordinates"] = _rounded(geometry["coordinates"])
    props = {"code": unit.code, "name": unit.name, "level": unit.level.value, "parent": unit.parent}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _rounded(coords: Any) -> Any:
    if isinstance(coords, float | int):
        return round(coords, 6)
    return [_rounded(c) for c in coords]


def main(argv: Sequence[str] = ()) -> None:
    """Regenerate the committed sample map (optionally to another path)."""
    boundaries = (
        Path(__file__).resolve().parents[3] / "shared" / "data" / "realworld" / "boundaries"
    )
    target = Path(argv[0]) if argv else SAMPLE_MAP_PATH
    target.write_text(dumps(sample_map_geojson(boundaries)), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
