"""Grid map use cases: import a validated boundary file, describe the stored map, route a point.

An import is one unit of work. The units are written, the whole resulting map is read back
and built into a ``GridMap`` *before* the commit, so an import that would leave the bot
unable to route (coordinate systems mixed) is refused with the database unchanged instead of
breaking the next start of ``gridsnap run``. A map need not have grids: reports go to the
finest unit it has at the point, so a city can import its districts alone and add finer
levels one file at a time. The same map tells which
imported units overlap stored units the import keeps (a merge keeps every unit not in the
file): the file's own overlaps were reported when it was read.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.domain.model import Crs, Level, MapUnit
from bot.geo.geojson import ShapedUnit, overlap_warning, overlaps
from bot.geo.hierarchy import finest_holders
from bot.geo.router import DEFAULT_TOLERANCE_M, GridMap, RouteResult
from bot.i18n import N_
from bot.services.ports import BaseRegionRepository, BaseUnitOfWork

if TYPE_CHECKING:
    from bot.services.env import MapHolder

log = logging.getLogger(__name__)

# What a user who sent a location is told before the first `gridsnap map import`.
NO_MAP_YET = N_(
    "The city's map is not set up yet, so reports cannot be routed; please try again later."
)


class MapProblem(Exception):
    """A map use case cannot go on; the message is one line for an operator."""


class MapImportRefused(MapProblem):
    """The import would leave a map the bot cannot use."""


class MapUnavailable(MapProblem):
    """There is no stored map to route on, or it cannot be routed on."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportOutcome:
    version: int
    imported: dict[Level, int]  # units taken from the file, per level
    in_force: dict[Level, int]  # active units of the whole map after the import, per level
    warnings: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class MapStats:
    version: int
    counts: dict[Level, int]
    crs: Crs | None  # None before the first import
    bounds: tuple[float, float, float, float] | None  # of the units routed to, in ``crs``


def counts_by_level(units: Iterable[MapUnit]) -> dict[Level, int]:
    """Per level, top down, leaving out levels with no units."""
    counts = Counter(unit.level for unit in units)
    return {level: counts[level] for level in Level if counts[level]}


async def import_map(
    uow: BaseUnitOfWork,
    units: list[MapUnit],
    *,
    replace: bool,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> ImportOutcome:
    """Store ``units`` as a new map version, merged by code or (``replace``) as the whole map.

    Raises ``MapImportRefused`` with nothing written when the result could not be routed on.
    """
    if not units:
        raise MapImportRefused("the file has no units to import")
    async with uow:
        settled, warnings = await _settle_parents(uow.regions, units, replace=replace)
        try:
            version = await uow.regions.replace_map(settled, replace=replace)
        except ValueError as exc:  # the port's word for a parent it cannot find
            raise MapImportRefused(str(exc)) from None
        _, stored = await uow.regions.load_units()
        grid_map = _refuse_unroutable(stored, version, tolerance_m)
        await uow.commit()
    return ImportOutcome(
        version=version,
        imported=counts_by_level(units),
        in_force=counts_by_level(stored),
        warnings=[*warnings, *_overlaps_with_kept_units(grid_map, stored, units)],
    )


async def _settle_parents(
    regions: BaseRegionRepository, units: list[MapUnit], *, replace: bool
) -> tuple[list[MapUnit], list[str]]:
    """Give every unit whose parent is neither in the file nor in the map a home; hang stored
    top-level units under the file's units that contain them.

    Cities digitise one level at a time, and a file names parents that nobody has: DataV
    district exports name the city (130300), a community file its street. Such a unit goes
    under the finest coarser unit (in the file or the map) that contains it — a community
    under its district when the streets are missing, so that district's staff stay above it —
    and is kept at the top when none does (the districts of a city nobody imported). A stored
    top-level unit that a coarser unit of the file contains is hung under it the same way, so
    a level imported after its children still has them. With ``replace`` stored units are
    about to be retired, so only the file counts. Returns the units to write (the file's,
    then any stored unit re-hung) and one warning per (missing parent, new home).
    """
    stored = [] if replace else (await regions.load_units())[1]
    in_file = {unit.code for unit in units}
    kept = [unit for unit in stored if unit.code not in in_file]
    known = in_file | {unit.code for unit in kept}
    orphans = [u for u in units if u.parent_code is not None and u.parent_code not in known]
    roots = [u for u in kept if u.parent_code is None]
    everything = [*units, *kept]
    homes = finest_holders([*orphans, *roots], everything)
    names = {unit.code: f"{unit.name} ({unit.code})" for unit in everything}
    placed: dict[tuple[str, str | None], list[MapUnit]] = defaultdict(list)
    moved = {unit.code: homes[unit.code] for unit in orphans}
    for unit in orphans:
        assert unit.parent_code is not None  # an orphan names a parent
        placed[(unit.parent_code, homes[unit.code])].append(unit)
    settled = [
        dataclasses.replace(u, parent_code=moved[u.code]) if u.code in moved else u for u in units
    ]
    rehung = [
        dataclasses.replace(unit, parent_code=homes[unit.code])
        for unit in roots
        if homes[unit.code] in in_file
    ]
    warnings = [
        _placed_warning(parent, names.get(home or ""), children)
        for (parent, home), children in placed.items()
    ]
    warnings += [
        f"{names[u.code]}, stored at the top, is now under {names[str(u.parent_code)]}"
        for u in rehung
    ]
    return [*settled, *rehung], warnings


def _placed_warning(parent: str, home: str | None, children: list[MapUnit]) -> str:
    what = f"parent {parent} of {len(children)} {children[0].level} unit(s) is not in the map"
    if home is None:
        return f"{what}; they are imported as top-level units"
    return f"{what}; they are placed under {home}, which contains them"


def _refuse_unroutable(units: list[MapUnit], version: int, tolerance_m: float) -> GridMap:
    systems = sorted({unit.crs.value for unit in units})
    if len(systems) > 1:
        raise MapImportRefused(
            f"the map would mix coordinate systems ({', '.join(systems)}); import the file "
            "with the stored map's --crs, or with --replace to swap the whole map"
        )
    try:
        return GridMap(units, version=version, tolerance_m=tolerance_m)
    except ValueError as exc:
        raise MapImportRefused(f"the resulting map could not route reports: {exc}") from None


def _overlaps_with_kept_units(
    grid_map: GridMap, stored: list[MapUnit], imported: list[MapUnit]
) -> list[str]:
    """Imported units overlapping stored units of their level that the import left in force."""
    in_file = {unit.code for unit in imported}
    shaped = [ShapedUnit(unit, grid_map.geometry(unit.code)) for unit in stored]
    new = [s for s in shaped if s.unit.code in in_file]
    kept = [s for s in shaped if s.unit.code not in in_file]
    return [overlap_warning(found, qualifier="the stored") for found in overlaps(new, kept)]


def loaded_map(holder: MapHolder) -> GridMap | None:
    """The map to route on, or None (logged as a warning) before the first map import: the
    caller then tells the user ``NO_MAP_YET`` and keeps what they sent."""
    if holder.loaded:
        return holder.current()
    log.warning("a location could not be routed: no map imported yet (`gridsnap map import`)")
    return None


async def map_stats(uow: BaseUnitOfWork) -> MapStats:
    async with uow:
        version, units = await uow.regions.load_units()
    if not units:
        return MapStats(version=version, counts={}, crs=None, bounds=None)
    try:
        bounds: tuple[float, float, float, float] | None = GridMap(units, version=version).bounds
    except ValueError:  # a map mixing CRS (an old database) still has counts worth showing
        bounds = None
    return MapStats(version=version, counts=counts_by_level(units), crs=units[0].crs, bounds=bounds)


async def route_point(
    uow: BaseUnitOfWork,
    lat: float,
    lon: float,
    crs: Crs = Crs.WGS84,
    *,
    tolerance_m: float = DEFAULT_TOLERANCE_M,
) -> RouteResult:
    """Route one point on the stored map (a one-off; the bot keeps its map in ``MapHolder``)."""
    async with uow:
        version, units = await uow.regions.load_units()
    if not units:
        raise MapUnavailable("no map imported yet; see `gridsnap map import --help`")
    try:
        grid_map = GridMap(units, version=version, tolerance_m=tolerance_m)
    except ValueError as exc:
        raise MapUnavailable(f"the stored map cannot route: {exc}") from None
    return grid_map.route(lat, lon, crs)


def route_document(result: RouteResult) -> dict[str, Any]:
    """The ``gridsnap map route --json`` shape, a stable contract for scripts: ``unit`` is
    the finest unit holding the point (a district on a map without grids), ``grid`` the
    same unit when it is a grid, else None."""
    grid, unit = result.grid, result.unit
    return {
        "status": result.status.value,
        "unit": None
        if unit is None
        else {"level": unit.level.value, "code": unit.code, "name": unit.name},
        "grid": None if grid is None else {"code": grid.code, "name": grid.name},
        "path": [
            {"level": ref.level.value, "code": ref.code, "name": ref.name} for ref in result.path
        ],
        "distance_m": None if result.distance_m is None else round(result.distance_m, 1),
    }
