"""The regions' tree (no geometry) kept in memory per map version, shared by every unit of
work on one engine.

Alerts, case roles and points walk a unit's ancestors many times a report loop; read row by
row, with each row's GeoJSON outline, that was ~54 queries a loop. Regions change only by a
map import, which writes a new map version, so a unit of work checks the stored version once
(one small query) and reads the rest from here; another process's import is seen at the next
unit of work, as the routing map is (``bot.services.env.MapHolder``).
"""

from __future__ import annotations

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.domain.model import Level, RegionNode
from storage.models import RegionRow


@dataclass(frozen=True, slots=True)
class Hierarchy:
    version: int
    by_id: dict[int, RegionNode]  # every unit ever stored, retired ones included
    by_code: dict[str, RegionNode]


_CACHE: WeakKeyDictionary[Engine, Hierarchy] = WeakKeyDictionary()


def region_node(row: RegionRow) -> RegionNode:
    return RegionNode(
        id=row.id,
        code=row.code,
        name=row.name,
        level=Level(row.level),
        parent_id=row.parent_id,
        map_version=row.map_version,
    )


async def hierarchy_at(session: AsyncSession, version: int) -> Hierarchy:
    """The tree as of map ``version`` (the stored one, read by the caller in its unit)."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)  # sessions here are bound to the engine, not a connection
    cached = _CACHE.get(engine)
    if cached is not None and cached.version == version:
        return cached
    # Without the outlines: they are most of a region row, and routing has its own copy.
    rows = await session.scalars(select(RegionRow).options(defer(RegionRow.geometry)))
    nodes = [region_node(row) for row in rows]
    cached = Hierarchy(version, {n.id: n for n in nodes}, {n.code: n for n in nodes})
    _CACHE[engine] = cached
    return cached
