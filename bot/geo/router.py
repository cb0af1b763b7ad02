"""Route a reported point to the finest unit of the map responsible for it.

``GridMap`` is built once per process from the imported ``MapUnit``s. A city rarely has every
level digitised everywhere: one district may have grids, the next only its own outline. So
the units routed to are the map's *leaves* — units no other unit names as its parent: the
grids of a fully gridded map, a district of a district-only file, both side by side in a
partly gridded one. Leaf polygons sit in a shapely STRtree (prepared). On top of it a uniform
cell index lists, per cell, the few leaves that touch it, so the common case — a point well
inside one leaf — costs one CRS conversion, one cell lookup, one vectorised ``contains_xy``
over those leaves and a lookup of a result built in advance; no shapely Point is made.
Anything else (a border, a gap, off the map) takes the exact STRtree path, which the index
only ever short-cuts, never contradicts. A point in no leaf but inside a coarser unit (a
district whose communities cover only part of it) goes to the nearest leaf of that unit
within the tolerance, else to that unit itself.
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
import numpy.typing as npt
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
    INSIDE = "inside"  # inside one unit (strictly inside a leaf, or inside a coarser unit)
    BOUNDARY = "boundary"  # on a leaf's edge; shared edges go to the finest, then lowest code
    NEAREST = "nearest"  # outside every leaf but within the tolerance of one
    OUTSIDE = "outside"  # in no unit and farther than the tolerance from every leaf


@dataclass(frozen=True, slots=True)
class UnitRef:
    code: str
    name: str
    level: Level


@dataclass(frozen=True, slots=True)
class RouteResult:
    status: RouteStatus
    unit: UnitRef | None  # the finest unit holding the point (or nearest to it); None outside
    path: tuple[UnitRef, ...]  # unit → community → street → district, as far as the map goes
    distance_m: float | None  # 0 inside or on the edge; metres to the unit when "nearest"

    @property
    def grid(self) -> UnitRef | None:
        """The unit when it is a grid; None on a map (or a part of one) without grids."""
        return self.unit if self.unit is not None and self.unit.level is Level.GRID else None


class GridMap:
    """All levels of one map version; routing uses the leaves, paths walk the parents."""

    def __init__(
        self,
        units: Iterable[MapUnit],
        *,
        version: int = 0,
        tolerance_m: float = DEFAULT_TOLERANCE_M,
        cell_index: bool = True,
    ) -> None:
        """``cell_index=False`` routes every point through the STRtree alone: the reference the
        index is checked against, in tests and the benchmark."""
        units = list(units)
        crs = {unit.crs for unit in units}
        if len(crs) > 1:
            raise ValueError(f"map mixes coordinate systems: {sorted(crs)}")
        if not units:
            raise ValueError("map has no units")
        self.version = version
        self.tolerance_m = tolerance_m
        self.crs = crs.pop()
        self._refs = {u.code: UnitRef(u.code, u.name, u.level) for u in units}
        self._parents = {u.code: u.parent_code for u in units}
        self._paths: dict[str, tuple[UnitRef, ...]] = {}
        self._shapes = dict(zip(self._refs, shapes_of([u.geometry for u in units]), strict=True))
        has_children = {u.parent_code for u in units if u.parent_code != u.code}
        # Tree index order = finest level first, then code order, so "the finest unit, then the
        # lowest code wins" on a shared edge is just the lowest index (on a grid map: the code).
        order = sorted(units, key=lambda unit: (-unit.level.depth, unit.code))
        self._leaf_codes = [u.code for u in order if u.code not in has_children]
        if not self._leaf_codes:
            raise ValueError("every unit is another unit's parent (a cycle of parents)")
        self._leaf_shapes = [self._shapes[code] for code in self._leaf_codes]
        shapely.prepare(self._leaf_shapes)
        self._tree = shapely.STRtree(self._leaf_shapes)
        self._inside = [
            RouteResult(RouteStatus.INSIDE, self._refs[code], self.path(code), 0.0)
            for code in self._leaf_codes
        ]
        # Units above the leaves, for points in a gap between their leaves; the same order.
        self._outer_codes = [u.code for u in order if u.code in has_children]
        self._outer_tree = shapely.STRtree([self._shapes[code] for code in self._outer_codes])
        self._to_map = {src: converter(src, self.crs) for src in Crs}
        self._cells = CellIndex.build(self._tree) if cell_index else CellIndex.empty()

    def route(
        self, lat: float, lon: float, crs: Crs = Crs.WGS84, *, tolerance_m: float | None = None
    ) -> RouteResult:
        """The finest unit for a point given in ``crs`` (a phone's WGS-84 by default)."""
        y, x = self._to_map[crs](lat, lon)
        index = self._cells.containing(x, y)
        if index >= 0:
            return self._inside[index]
        return self._route_by_tree(
            shapely.Point(x, y), self.tolerance_m if tolerance_m is None else tolerance_m
        )

    def _route_by_tree(self, point: shapely.Point, tolerance_m: float) -> RouteResult:
        hits = self._tree.query(point, predicate="within")
        if len(hits) == 1:
            inside: RouteResult = self._inside[hits[0]]
            return inside
        return self._route_slow(point, tolerance_m)

    def _route_slow(self, point: shapely.Point, tolerance_m: float) -> RouteResult:
        hits = self._tree.query(point, predicate="intersects")
        if len(hits):
            # A point exactly on a shared edge is "within" neither leaf; the lowest index wins.
            code = self._leaf_codes[min(hits)]
            return RouteResult(RouteStatus.BOUNDARY, self._refs[code], self.path(code), 0.0)
        outer = self._outer_tree.query(point, predicate="intersects")
        holder = self._outer_codes[min(outer)] if len(outer) else None
        nearest = self._nearest(point, tolerance_m, under=holder)
        if nearest is None and holder is not None:
            # Inside a unit whose finer units do not reach this far: the unit itself is the
            # finest the map has here (a district's part without communities, say).
            return RouteResult(RouteStatus.INSIDE, self._refs[holder], self.path(holder), 0.0)
        return nearest or RouteResult(RouteStatus.OUTSIDE, None, (), None)

    def _nearest(
        self, point: shapely.Point, tolerance_m: float, *, under: str | None
    ) -> RouteResult | None:
        """The nearest leaf within the tolerance; with ``under``, only that unit's leaves (a
        point inside one district never goes to a grid of the district next door)."""
        window = tolerance_m / (_M_PER_DEG_LAT * max(math.cos(math.radians(point.y)), 0.01))
        candidates = self._tree.query(point, predicate="dwithin", distance=window)
        best: tuple[float, int] | None = None
        for index in sorted(candidates):
            if under is not None and not self._is_below(self._leaf_codes[index], under):
                continue
            near = nearest_points(self._leaf_shapes[index], point)[0]
            metres = float(geodesic((point.y, point.x), (near.y, near.x)).meters)
            if best is None or metres < best[0]:
                best = (metres, index)
        if best is None or best[0] > tolerance_m:
            return None
        code = self._leaf_codes[best[1]]
        return RouteResult(RouteStatus.NEAREST, self._refs[code], self.path(code), best[0])

    def _is_below(self, code: str, ancestor: str) -> bool:
        return any(ref.code == ancestor for ref in self.path(code)[1:])

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
        """Leaves (grids, or the finest units the map has there) sharing a stretch of border
        with this unit (a corner is not enough)."""
        geom = self.geometry(code)
        found = []
        for index in self._tree.query(geom, predicate="touches"):
            other = self._leaf_codes[index]
            if other != code and geom.intersection(self._leaf_shapes[index]).length > 0:
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
        """(min_lon, min_lat, max_lon, max_lat) of the units routed to, in the map's CRS."""
        x0, y0, x1, y1 = shapely.total_bounds(self._leaf_shapes)
        return float(x0), float(y0), float(x1), float(y1)

    def counts_by_level(self) -> dict[Level, int]:
        counts = Counter(ref.level for ref in self._refs.values())
        return {level: counts[level] for level in Level if counts[level]}


class CellIndex:
    """Uniform cells over the grids' bounds, each listing the grids that intersect it.

    Cells are about one grid across, so a cell holds a handful of grids and a lookup is one
    ``contains_xy`` call over them. The lists are stored flat (CSR): the grids of cell ``c`` are
    ``grids[offsets[c]:offsets[c + 1]]``, their prepared polygons the same slice of ``polygons``.
    """

    __slots__ = (
        "_grids",
        "_inv_h",
        "_inv_w",
        "_nx",
        "_offsets",
        "_polygons",
        "_x0",
        "_x1",
        "_y0",
        "_y1",
    )

    # Cells are padded by this fraction of a cell so that rounding in the hot path's cell
    # arithmetic can never place a point in a cell whose list misses a grid holding it.
    _PAD = 1e-6
    # Built in chunks so the temporary cell boxes of a 100,000-grid map stay a few MB.
    _CHUNK = 16_384
    # Caps the cell count (memory) on sparse maps, e.g. two towns far apart, where grid-sized
    # cells would mostly cover empty ground. Bigger cells there only lengthen the lists, and
    # each extra candidate costs contains_xy ~20 ns (a bounding-box test), so this degrades softly.
    _MAX_CELLS_PER_GRID = 4

    def __init__(
        self,
        bounds: tuple[float, float, float, float],
        cell_size: tuple[float, float],
        nx: int,
        offsets: npt.NDArray[np.intp],
        grids: npt.NDArray[np.intp],
        polygons: npt.NDArray[np.object_],
    ) -> None:
        self._x0, self._y0, self._x1, self._y1 = bounds
        self._inv_w, self._inv_h = 1.0 / cell_size[0], 1.0 / cell_size[1]
        self._nx = nx
        self._offsets = offsets.tolist()  # Python ints: indexing a list beats a numpy array
        self._grids = grids
        self._polygons = polygons

    @classmethod
    def empty(cls) -> CellIndex:
        """An index every point falls outside of (NaN bounds fail every comparison)."""
        nothing = np.zeros(0, dtype=np.intp)
        nan = math.nan
        return cls((nan, nan, nan, nan), (1.0, 1.0), 0, nothing, nothing, np.zeros(0, object))

    @classmethod
    def build(cls, tree: shapely.STRtree) -> CellIndex:
        """The index over the tree's (prepared) polygons; ``containing`` answers in tree indices."""
        polygons = tree.geometries
        boxes = shapely.bounds(polygons)
        x0, y0 = boxes[:, :2].min(axis=0)
        x1, y1 = boxes[:, 2:].max(axis=0)
        w, h = cls._cell_size(boxes, (x1 - x0) * (y1 - y0))
        # int() rounds down (+1), and x1 itself, after rounding, may land one cell further (+1).
        nx, ny = int((x1 - x0) / w) + 2, int((y1 - y0) / h) + 2
        counts, grids = cls._candidates(tree, (float(x0), float(y0)), (w, h), nx, ny)
        offsets = np.zeros(nx * ny + 1, dtype=np.intp)
        np.cumsum(counts, out=offsets[1:])
        bounds = float(x0), float(y0), float(x1), float(y1)
        return cls(bounds, (w, h), nx, offsets, grids, polygons[grids])

    @classmethod
    def _cell_size(cls, boxes: npt.NDArray[np.float64], area: float) -> tuple[float, float]:
        # The floor keeps a map of mostly degenerate (zero-width) polygons from dividing by zero.
        w = max(float(np.median(boxes[:, 2] - boxes[:, 0])), 1e-9)
        h = max(float(np.median(boxes[:, 3] - boxes[:, 1])), 1e-9)
        scale = math.sqrt(max(area / (w * h) / (cls._MAX_CELLS_PER_GRID * len(boxes)), 1.0))
        return w * scale, h * scale

    @classmethod
    def _candidates(
        cls,
        tree: shapely.STRtree,
        origin: tuple[float, float],
        size: tuple[float, float],
        nx: int,
        ny: int,
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """How many grids intersect each (padded) cell, and those grids cell after cell."""
        (x0, y0), (w, h) = origin, size
        pad_x, pad_y = w * cls._PAD, h * cls._PAD
        counts, grids = [], []
        for start in range(0, nx * ny, cls._CHUNK):
            cell = np.arange(start, min(start + cls._CHUNK, nx * ny))
            left, bottom = x0 + (cell % nx) * w, y0 + (cell // nx) * h
            boxes = shapely.box(left - pad_x, bottom - pad_y, left + w + pad_x, bottom + h + pad_y)
            # The query groups its pairs by input box in input order: already the CSR layout.
            box_index, grid_index = tree.query(boxes, predicate="intersects")
            counts.append(np.bincount(box_index, minlength=len(cell)))
            grids.append(grid_index)
        return np.concatenate(counts), np.concatenate(grids)

    def containing(self, x: float, y: float) -> int:
        """The one grid holding (x, y) strictly inside, or -1 when none or several do."""
        if not (self._x0 <= x <= self._x1 and self._y0 <= y <= self._y1):
            return -1
        cell = int((y - self._y0) * self._inv_h) * self._nx + int((x - self._x0) * self._inv_w)
        start, stop = self._offsets[cell], self._offsets[cell + 1]
        hits = shapely.contains_xy(self._polygons[start:stop], x, y).nonzero()[0]
        return int(self._grids[start + hits[0]]) if len(hits) == 1 else -1


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
