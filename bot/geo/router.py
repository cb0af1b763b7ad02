"""Route a reported point to the grid responsible for it.

``GridMap`` is built once per process from the imported ``MapUnit``s. Grid polygons sit in a
shapely STRtree (prepared), so the common case — a point well inside one grid — costs one CRS
conversion, one point, one tree query and a lookup of a result built in advance.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from geopy.distance import geodesic
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from bot.domain.model import Crs, Level, MapUnit
from bot.geo.crs import converter

DEFAULT_TOLERANCE_M = 300.0
_M_PER_DEG_LAT = 110_574.0  # the shortest degree of latitude, so degree windows never undershoot


class RouteStatus(enum.StrEnum):
    INSIDE = "inside"  # strictly inside one grid
    BOUNDARY = "boundary"  # on a grid's edge; shared edges go to the lowest code
    NEAREST = "nearest"  # outside every grid but within the tolerance of one
    OUTSIDE = "outside"  # farther than the tolerance from every grid


@dataclass(frozen=True, slots=True)
class UnitRef:
    code: str
    name: str
    level: Level


@dataclass(frozen=True, slots=True)
class RouteResult:
    status: RouteStatus
    grid: UnitRef | None
    path: tuple[UnitRef, ...]  # grid → community → street → district, as far as the map goes
    distance_m: float | None  # 0 inside or on the edge; metres to the grid when "nearest"


class GridMap:
    """All levels of one map version; routing uses the grid level, paths walk the parents."""

    def __init__(
        self,
        units: Iterable[MapUnit],
        *,
        version: int = 0,
        tolerance_m: float = DEFAULT_TOLERANCE_M,
    ) -> None:
        # Tree index order = code order, so "the lowest code wins" is just the lowest index.
        units = sorted(units, key=lambda unit: unit.code)
        crs = {unit.crs for unit in units}
        if len(crs) > 1:
            raise ValueError(f"map mixes coordinate systems: {sorted(crs)}")
        self.version = version
        self.tolerance_m = tolerance_m
        self.crs = crs.pop() if crs else Crs.GCJ02
        self._refs = {u.code: UnitRef(u.code, u.name, u.level) for u in units}
        self._parents = {u.code: u.parent_code for u in units}
        self._paths: dict[str, tuple[UnitRef, ...]] = {}
        self._shapes = dict(zip(self._refs, shapes_of([u.geometry for u in units]), strict=True))
        self._grid_codes = [u.code for u in units if u.level is Level.GRID]
        if not self._grid_codes:
            raise ValueError("map has no grid-level units")
        self._grid_shapes = [self._shapes[code] for code in self._grid_codes]
        shapely.prepare(self._grid_shapes)
        self._tree = shapely.STRtree(self._grid_shapes)
        self._inside = [
            RouteResult(RouteStatus.INSIDE, self._refs[code], self.path(code), 0.0)
            for code in self._grid_codes
        ]
        self._to_map = {src: converter(src, self.crs) for src in Crs}

    def route(
        self, lat: float, lon: float, crs: Crs = Crs.WGS84, *, tolerance_m: float | None = None
    ) -> RouteResult:
        """The grid for a point given in ``crs`` (a phone's WGS-84 by default)."""
        y, x = self._to_map[crs](lat, lon)
        point = shapely.Point(x, y)
        hits = self._tree.query(point, predicate="within")
        if len(hits) == 1:
            inside: RouteResult = self._inside[hits[0]]
            return inside
        return self._route_slow(point, self.tolerance_m if tolerance_m is None else tolerance_m)

    def _route_slow(self, point: shapely.Point, tolerance_m: float) -> RouteResult:
        hits = self._tree.query(point, predicate="intersects")
        if len(hits):
            # A point exactly on a shared edge is "within" neither grid; the lowest code wins.
            code = self._grid_codes[min(hits)]
            return RouteResult(RouteStatus.BOUNDARY, self._refs[code], self.path(code), 0.0)
        return self._nearest(point, tolerance_m)

    def _nearest(self, point: shapely.Point, tolerance_m: float) -> RouteResult:
        window = tolerance_m / (_M_PER_DEG_LAT * max(math.cos(math.radians(point.y)), 0.01))
        candidates = self._tree.query(point, predicate="dwithin", distance=window)
        best: tuple[float, int] | None = None
        for index in sorted(candidates):
            near = nearest_points(self._grid_shapes[index], point)[0]
            metres = float(geodesic((point.y, point.x), (near.y, near.x)).meters)
            if best is None or metres < best[0]:
                best = (metres, index)
        if best is None or best[0] > tolerance_m:
            return RouteResult(RouteStatus.OUTSIDE, None, (), None)
        code = self._grid_codes[best[1]]
        return RouteResult(RouteStatus.NEAREST, self._refs[code], self.path(code), best[0])

    def path(self, code: str) -> tuple[UnitRef, ...]:
        """The unit and its ancestors present in the map, nearest first."""
        found = self._paths.get(code)
        if found is None:
            parent = self._parents[code]
            # Memoised per unit, so building all grids' paths walks each community once.
            above = self.path(parent) if parent in self._refs and parent != code else ()
            found = self._paths[code] = (self._refs[code], *above)
        return found

    def neighbours(self, code: str) -> list[UnitRef]:
        """Grids sharing a stretch of border with this grid (a corner is not enough)."""
        geom = self.geometry(code)
        found = []
        for index in self._tree.query(geom, predicate="touches"):
            other = self._grid_codes[index]
            if other != code and geom.intersection(self._grid_shapes[index]).length > 0:
                found.append(self._refs[other])
        return sorted(found, key=lambda ref: ref.code)

    def unit(self, code: str) -> UnitRef:
        """Raises KeyError for a code not in this map."""
        return self._refs[code]

    def geometry(self, code: str) -> BaseGeometry:
        """The unit's shapely geometry in the map's CRS (``self.crs``); KeyError if unknown."""
        return self._shapes[code]

    def __contains__(self, code: object) -> bool:
        return code in self._refs

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of the grid level, in the map's CRS."""
        x0, y0, x1, y1 = shapely.total_bounds(self._grid_shapes)
        return float(x0), float(y0), float(x1), float(y1)

    def counts_by_level(self) -> dict[Level, int]:
        counts = Counter(ref.level for ref in self._refs.values())
        return {level: counts[level] for level in Level if counts[level]}


def shapes_of(geometries: Sequence[Mapping[str, Any]]) -> list[BaseGeometry]:
    """Shapely geometries for GeoJSON dicts; plain polygons are built in one vectorised call,
    which is what keeps loading a 100,000-grid map within a couple of seconds."""
    shapes: list[BaseGeometry | None] = [None] * len(geometries)
    simple = [
        i
        for i, g in enumerate(geometries)
        if g["type"] == "Polygon"
        and len(g["coordinates"]) == 1
        and len(g["coordinates"][0][0]) == 2
    ]
    if simple:
        rings = [geometries[i]["coordinates"][0] for i in simple]
        coords = np.array(list(itertools.chain.from_iterable(rings)), dtype=float)
        indices = np.repeat(np.arange(len(rings)), [len(ring) for ring in rings])
        polygons = shapely.polygons(shapely.linearrings(coords, indices=indices))
        for i, polygon in zip(simple, polygons, strict=True):
            shapes[i] = polygon
    return [shape(g) if s is None else s for g, s in zip(geometries, shapes, strict=True)]
