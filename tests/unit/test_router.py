"""Routing a point to its grid: inside, shared borders, near misses, CRS conversion, paths,
and the cell index agreeing with the STRtree it short-cuts."""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

import pytest
import shapely
import shapely.geometry
from geopy.distance import geodesic
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry.base import BaseGeometry

from bot.domain.model import Crs, Level, MapUnit
from bot.geo.crs import gcj02_to_bd09, gcj02_to_wgs84
from bot.geo.geojson import load_geojson
from bot.geo.router import DEFAULT_TOLERANCE_M, CellIndex, GridMap, RouteStatus
from bot.geo.samplemap import SAMPLE_MAP_PATH

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


@pytest.fixture(scope="module")
def sample_units() -> list[MapUnit]:
    units, _ = load_geojson(SAMPLE_MAP_PATH)
    return units


def beyond_the_map(units: list[MapUnit], bearing: int, metres: float) -> tuple[float, float]:
    """(lat, lon) ``metres`` from the map's outermost grid vertex towards ``bearing`` (the
    north-most vertex for 0°, the east-most for 90°, …). Every grid lies behind that vertex,
    so the nearest one is exactly ``metres`` away."""
    grids = [shapely.geometry.shape(u.geometry) for u in units if u.level is Level.GRID]
    lon, lat = shapely.get_coordinates(grids).T
    pick = {0: lat.argmax(), 90: lon.argmax(), 180: lat.argmin(), 270: lon.argmin()}[bearing]
    there = geodesic(meters=metres).destination((lat[pick], lon[pick]), bearing)
    return there.latitude, there.longitude


@pytest.mark.parametrize("bearing", [0, 90, 180, 270], ids=["north", "east", "south", "west"])
def test_by_default_200_m_beyond_the_city_is_nearest_and_400_m_is_outside(
    sample_units: list[MapUnit], bearing: int
) -> None:
    city = GridMap(sample_units)  # the default tolerance, as the bot runs unconfigured
    assert city.tolerance_m == DEFAULT_TOLERANCE_M == 300
    near, far = (beyond_the_map(sample_units, bearing, m) for m in (200, 400))
    for routed in (city.route(*near, Crs.GCJ02), city.route(*gcj02_to_wgs84(*near))):
        assert routed.status is RouteStatus.NEAREST
        assert routed.distance_m == pytest.approx(200, abs=1)
    for routed in (city.route(*far, Crs.GCJ02), city.route(*gcj02_to_wgs84(*far))):
        assert routed.status is RouteStatus.OUTSIDE


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


def test_a_map_without_units_is_refused() -> None:
    with pytest.raises(ValueError, match="no units"):
        GridMap([])


# --- Maps without grids, or with grids in part of them: the finest unit holding the point ------


def test_a_map_of_districts_alone_routes_to_the_district_holding_the_point() -> None:
    districts = GridMap(units()[5:])  # the district alone, as a district file imports
    result = districts.route(39.945, 119.625, Crs.GCJ02)
    assert result.status is RouteStatus.INSIDE
    assert result.unit is not None and result.unit.code == "130302"
    assert result.unit.level is Level.DISTRICT
    assert result.grid is None  # "grid" stays for grid maps
    assert [ref.code for ref in result.path] == ["130302"]
    assert districts.bounds == pytest.approx((119.60, 39.93, 119.63, 39.96))


def test_a_point_in_a_district_beyond_its_grids_goes_to_the_district_itself(
    gridmap: GridMap,
) -> None:
    # Inside the community square, ~1.2 km north of the nearest grid: no grid within 300 m.
    result = gridmap.route(39.9580, 119.6050, Crs.GCJ02)
    assert result.status is RouteStatus.INSIDE
    assert result.unit is not None and result.unit.code == "130302001001"
    assert result.grid is None
    assert [ref.level for ref in result.path] == [Level.COMMUNITY, Level.STREET, Level.DISTRICT]


def test_a_point_in_a_gap_near_a_grid_of_its_own_unit_goes_to_that_grid(gridmap: GridMap) -> None:
    result = gridmap.route(39.9410, 119.6050, Crs.GCJ02)  # ≈ 110 m north of WEST
    assert result.status is RouteStatus.NEAREST
    assert result.grid is not None and result.grid.code == WEST


def test_a_point_inside_a_district_never_goes_to_a_grid_of_the_district_next_door() -> None:
    gridded = units()
    bare = MapUnit(
        code="130303",
        name="山海关区",
        level=Level.DISTRICT,
        parent_code="130300",
        geometry=square(119.63, 39.93, 0.03),
        crs=Crs.GCJ02,
    )
    city = GridMap([*gridded, bare])
    # 85 m east of grid CORNER, across the district border: within the tolerance of that
    # grid, but inside 山海关区, which has no grids, so it is that district's.
    result = city.route(39.945, 119.631, Crs.GCJ02)
    assert result.unit is not None and result.unit.code == "130303"
    assert result.status is RouteStatus.INSIDE
    assert city.route(39.945, 119.629, Crs.GCJ02).unit == city.unit(CORNER)


# --- The cell index: a fast path that must never change an answer -----------------------------

XY = tuple[float, float]


def jittered_lattice(cols: int, rows: int, holes: set[int], seed: int = 3) -> list[MapUnit]:
    """Quadrilateral grids tiling a rectangle, inner corners jittered, some grids left out so
    that points fall in gaps inside the map as well as beyond its edge."""
    rng = random.Random(seed)
    step = 0.002  # ≈ 170 m × 220 m, like a dense urban grid

    def jitter(n: int, last: int) -> float:
        return n + (rng.uniform(-0.3, 0.3) if 0 < n < last else 0.0)

    corners = [
        [(119.4 + jitter(i, cols) * step, 39.8 + jitter(j, rows) * step) for j in range(rows + 1)]
        for i in range(cols + 1)
    ]
    found = []
    for n in range(cols * rows):
        if n in holes:
            continue
        i, j = n % cols, n // cols
        ring = [corners[i][j], corners[i + 1][j], corners[i + 1][j + 1], corners[i][j + 1]]
        geometry = {"type": "Polygon", "coordinates": [[*map(list, ring), list(ring[0])]]}
        found.append(
            MapUnit(
                code=f"G{n:04d}",
                name=f"g{n}",
                level=Level.GRID,
                parent_code=None,
                geometry=geometry,
            )
        )
    return found


@dataclass(frozen=True)
class TwinMaps:
    """One map built twice: with the cell index, and routing through the STRtree alone."""

    indexed: GridMap
    reference: GridMap
    grids: list[BaseGeometry]  # in code order, as the map indexes them
    edges: list[tuple[XY, XY]]  # every grid's ring, edge by edge, in the map's CRS


def twin(units: list[MapUnit]) -> TwinMaps:
    indexed, reference = GridMap(units), GridMap(units, cell_index=False)
    codes = sorted(u.code for u in units if u.level is Level.GRID)
    grids = [indexed.geometry(code) for code in codes]
    edges: list[tuple[XY, XY]] = []
    for ring in shapely.get_exterior_ring(grids):
        coords = [(float(x), float(y)) for x, y in shapely.get_coordinates(ring)]
        edges.extend(itertools.pairwise(coords))
    return TwinMaps(indexed, reference, grids, edges)


@pytest.fixture(scope="module", params=["sample map", "lattice with holes"])
def twin_maps(request: pytest.FixtureRequest) -> TwinMaps:
    if request.param == "sample map":
        units, _ = load_geojson(SAMPLE_MAP_PATH)
        return twin(units)
    return twin(jittered_lattice(12, 9, holes={14, 40, 41, 107}))


def points_around(maps: TwinMaps) -> st.SearchStrategy[XY]:
    """Anywhere over the map and a little beyond; exactly on corners and edges; nudged off
    them by amounts from far below a millimetre to about the nearest-grid tolerance."""
    x0, y0, x1, y1 = maps.indexed.bounds
    mx, my = (x1 - x0) / 20, (y1 - y0) / 20
    anywhere = st.tuples(st.floats(x0 - mx, x1 + mx), st.floats(y0 - my, y1 + my))
    edge = st.sampled_from(maps.edges)
    fraction = st.sampled_from([0.0, 0.5, 0.25]) | st.floats(0.0, 1.0)
    on_border = st.builds(
        lambda e, t: (e[0][0] + t * (e[1][0] - e[0][0]), e[0][1] + t * (e[1][1] - e[0][1])),
        edge,
        fraction,
    )
    nudge = st.sampled_from([0.0, 1e-12, -1e-12, 1e-7, -1e-7, 2e-3, -2e-3, 4e-3, -4e-3])
    near_border = st.builds(lambda p, dx, dy: (p[0] + dx, p[1] + dy), on_border, nudge, nudge)
    return anywhere | on_border | near_border


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_cell_index_routes_every_point_exactly_as_the_strtree_alone(
    twin_maps: TwinMaps, data: st.DataObject
) -> None:
    x, y = data.draw(points_around(twin_maps))
    assert twin_maps.indexed.route(y, x, Crs.GCJ02) == twin_maps.reference.route(y, x, Crs.GCJ02)
    phone = gcj02_to_wgs84(y, x)
    assert twin_maps.indexed.route(*phone) == twin_maps.reference.route(*phone)


def test_the_cell_index_alone_answers_for_a_point_inside_each_grid(twin_maps: TwinMaps) -> None:
    # Without this the property above would also hold for an index that never answers.
    index = CellIndex.build(shapely.STRtree(twin_maps.grids))
    inner = shapely.point_on_surface(twin_maps.grids)
    found = [index.containing(p.x, p.y) for p in inner]
    assert found == list(range(len(twin_maps.grids)))


def test_the_cell_index_declines_a_shared_corner_and_a_point_off_the_map() -> None:
    lattice = jittered_lattice(3, 3, holes=set())
    polygons = [GridMap(lattice).geometry(unit.code) for unit in lattice]
    index = CellIndex.build(shapely.STRtree(polygons))
    x, y = shapely.get_coordinates(polygons[4])[0]  # the centre grid's corner: four grids meet
    assert index.containing(float(x), float(y)) == -1
    assert index.containing(119.0, 39.8) == -1
    assert index.containing(float("nan"), 39.8) == -1
