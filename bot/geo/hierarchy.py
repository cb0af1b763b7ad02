"""Where a unit belongs when the parent its file names is nowhere: under the finest coarser
unit that contains it."""

from __future__ import annotations

from collections.abc import Sequence

import shapely

from bot.domain.model import MapUnit
from bot.geo.router import shapes_of


def finest_holders(
    asked: Sequence[MapUnit], candidates: Sequence[MapUnit]
) -> dict[str, str | None]:
    """For each unit of ``asked``, the code of the finest unit of ``candidates`` at a coarser
    level (in the same coordinate system) that contains a point of it, or None.

    A unit is placed by a point on its surface, not by its whole outline: real boundaries of
    neighbouring levels are drawn separately and never nest exactly. Only candidates coarser
    than the deepest unit asked about get a shape, so asking about a few districts of a
    100,000-grid map costs nothing."""
    if not asked:
        return {}
    deepest = max(unit.level.depth for unit in asked)
    # Finest level first, then the lowest code: the first hit that fits wins.
    coarse = sorted(
        (unit for unit in candidates if unit.level.depth < deepest),
        key=lambda unit: (-unit.level.depth, unit.code),
    )
    tree = shapely.STRtree(shapes_of([unit.geometry for unit in coarse]))
    points = shapely.point_on_surface(shapes_of([unit.geometry for unit in asked]))
    found: dict[str, str | None] = {}
    for unit, point in zip(asked, points, strict=True):
        hits = sorted(tree.query(point, predicate="within"))
        found[unit.code] = next(
            (
                coarse[i].code
                for i in hits
                if coarse[i].level.depth < unit.level.depth and coarse[i].crs is unit.crs
            ),
            None,
        )
    return found
