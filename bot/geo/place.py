"""Where in its grid a point is, in words a worker can use on the street.

The map has grids, communities, streets and districts but no roads or points of interest,
so the nearest thing to "opposite the bus stop" it can say is the community and the part
of the grid (its north-east, its centre, ...). Names come from the map as they are.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.domain.model import Level
from bot.geo.crs import to_map_crs
from bot.geo.router import GridMap


class Part(enum.StrEnum):
    """A ninth of the grid's bounding box."""

    NORTH_WEST = "nw"
    NORTH = "n"
    NORTH_EAST = "ne"
    WEST = "w"
    CENTRE = "c"
    EAST = "e"
    SOUTH_WEST = "sw"
    SOUTH = "s"
    SOUTH_EAST = "se"


_PARTS = (
    (Part.SOUTH_WEST, Part.SOUTH, Part.SOUTH_EAST),
    (Part.WEST, Part.CENTRE, Part.EAST),
    (Part.NORTH_WEST, Part.NORTH, Part.NORTH_EAST),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Place:
    grid: str  # the name of the unit the case went to: a grid, or a coarser unit holding no grids
    community: str | None  # of the units above it
    street: str | None
    part: Part
    level: Level = Level.GRID  # of the unit named by ``grid``


def place_of(gridmap: GridMap, grid_code: str, lat: float, lon: float) -> Place:
    """The grid's names and the part of it that holds the WGS-84 point (lat, lon); a point
    just outside the grid (routed as "nearest") counts in the part it is beside."""
    y, x = to_map_crs(lat, lon, gridmap.crs)
    x0, y0, x1, y1 = gridmap.geometry(grid_code).bounds
    row, column = _third(y, y0, y1), _third(x, x0, x1)
    itself, *above = gridmap.path(grid_code)
    names = {ref.level: ref.name for ref in above}
    return Place(
        grid=itself.name,
        community=names.get(Level.COMMUNITY),
        street=names.get(Level.STREET),
        part=_PARTS[row][column],
        level=itself.level,
    )


def _third(value: float, low: float, high: float) -> int:
    if high <= low:
        return 1
    return min(2, max(0, int(3 * (value - low) / (high - low))))
