"""The grid map as light polygons for the web chat's location picker, and back again.

The picker draws the map's own polygons (no tile server): an overview of the streets, and
one street's communities and grids when zoomed in. Coordinates stay in the map's system
(GCJ-02 for Chinese exports); a click is converted to WGS-84, which is what a phone reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from bot.domain.model import Crs, Level, MapUnit
from bot.geo.crs import LatLon, convert

# Degrees; about 30 m and 5 m here: enough for a phone screen, a tenth of the bytes.
OVERVIEW_TOLERANCE = 0.0003
DETAIL_TOLERANCE = 0.00005
DECIMALS = 5
OVERVIEW_LEVELS = (Level.DISTRICT, Level.STREET)
SEARCH_LEVELS = (Level.STREET, Level.COMMUNITY, Level.GRID)
SEARCH_LIMIT = 8


@dataclass(frozen=True, slots=True)
class _Unit:
    unit: MapUnit
    geometry: BaseGeometry


class MapView:
    """Built once per sandbox start from the units the bot routes with."""

    def __init__(self, units: Iterable[MapUnit]) -> None:
        self._units = {u.code: _Unit(u, shape(u.geometry)) for u in units}
        crs = {u.unit.crs for u in self._units.values()}
        self.crs = crs.pop() if len(crs) == 1 else Crs.GCJ02

    def overview(self) -> dict[str, Any]:
        """Districts and streets: where to zoom."""
        chosen = [u for u in self._units.values() if u.unit.level in OVERVIEW_LEVELS]
        return self._collection(chosen, OVERVIEW_TOLERANCE)

    def street(self, code: str) -> dict[str, Any] | None:
        """One street with its communities and grids, or None for an unknown street."""
        street = self._units.get(code)
        if street is None or street.unit.level is not Level.STREET:
            return None
        inside = [street, *self._descendants(code)]
        return self._collection(inside, DETAIL_TOLERANCE)

    def search(self, text: str, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
        """Streets, communities and grids whose name contains ``text`` (streets first), each
        with the street to open and the box to zoom to, in map coordinates."""
        wanted = text.strip().casefold()
        if not wanted:
            return []
        found = [
            u
            for u in self._units.values()
            if u.unit.level in SEARCH_LEVELS and wanted in u.unit.name.casefold()
        ]
        found.sort(key=lambda u: (SEARCH_LEVELS.index(u.unit.level), len(u.unit.name), u.unit.code))
        return [self._hit(u) for u in found[:limit]]

    def _hit(self, unit: _Unit) -> dict[str, Any]:
        street = self._street_of(unit)
        return {
            "code": unit.unit.code,
            "name": unit.unit.name,
            "level": unit.unit.level.value,
            "street": street.unit.code if street else None,
            "street_name": street.unit.name if street else None,
            "bbox": [round(float(v), DECIMALS) for v in unit.geometry.bounds],
        }

    def _street_of(self, unit: _Unit) -> _Unit | None:
        current: _Unit | None = unit
        while current is not None and current.unit.level is not Level.STREET:
            parent = current.unit.parent_code
            current = self._units.get(parent) if parent else None
        return current

    def to_phone(self, lat: float, lon: float) -> LatLon:
        """A point clicked on the drawing (map coordinates) as a phone would report it."""
        return convert(lat, lon, self.crs, Crs.WGS84)

    def _descendants(self, code: str) -> list[_Unit]:
        found: list[_Unit] = []
        frontier = {code}
        while frontier:
            children = [u for u in self._units.values() if u.unit.parent_code in frontier]
            found.extend(children)
            frontier = {u.unit.code for u in children}
        return found

    def _collection(self, units: list[_Unit], tolerance: float) -> dict[str, Any]:
        features = [_feature(u, tolerance) for u in units]
        bounds = shapely.total_bounds([u.geometry for u in units]) if units else [0, 0, 0, 0]
        return {
            "type": "FeatureCollection",
            "crs_name": self.crs.value,
            "bbox": [round(float(v), DECIMALS) for v in bounds],
            "features": features,
        }


def _feature(unit: _Unit, tolerance: float) -> dict[str, Any]:
    simple = shapely.simplify(unit.geometry, tolerance, preserve_topology=True)
    anchor = unit.geometry.representative_point()  # inside even for a concave grid
    geometry = mapping(shapely.set_precision(simple, 10**-DECIMALS))
    return {
        "type": "Feature",
        "properties": {
            "code": unit.unit.code,
            "name": unit.unit.name,
            "level": unit.unit.level.value,
            "parent": unit.unit.parent_code,
            "anchor": [round(anchor.x, DECIMALS), round(anchor.y, DECIMALS)],
        },
        "geometry": geometry,
    }
