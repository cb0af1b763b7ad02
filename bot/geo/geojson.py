"""Read a grid map from GeoJSON the way real map tools export it, and validate it.

Accepted: a FeatureCollection, a bare JSON list of Features (DataV GeoAtlas exports) or one
Feature; Polygon or MultiPolygon geometries; code/name/parent/level found under the common
property names or named by the caller. The whole file is refused (``MapFileError``) when a
unit cannot be trusted — a map with a hole in it would silently misroute reports — while
overlaps and dangling parents come back as warnings. An invalid ring (a self-intersection,
say) is refused too unless the caller asks for ``repair``: make_valid's guess at the intended
shape moves a border, and only the operator can accept that.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

from bot.domain.model import Crs, Level, MapUnit

Progress = Callable[[int, int], None]
"""Called with (features done, features total) while a big file is read."""

CODE_KEYS = ("code", "adcode", "id", "gid", "CODE", "ADCODE", "GID", "编码", "代码")
NAME_KEYS = ("name", "NAME", "Name", "名称", "fullname")
PARENT_KEYS = ("parent", "parent_code", "parent_adcode", "parentCode", "PARENT", "parent.adcode")
LEVEL_KEYS = ("level", "LEVEL", "级别")

_POLYGONAL = ("Polygon", "MultiPolygon")
_EARTH_RADIUS_M = 6371008.8
_M_PER_DEG = math.pi / 180.0 * _EARTH_RADIUS_M
_PROGRESS_EVERY = 1000


class MapFileError(Exception):
    """The file cannot be imported; the message is one line naming the problem."""


class RepairableGeometryError(MapFileError):
    """Invalid rings that ``repair=True`` would fix."""


class LoadedMap(NamedTuple):
    units: list[MapUnit]
    warnings: list[str]


class ShapedUnit(NamedTuple):
    unit: MapUnit
    shape: BaseGeometry


class Overlap(NamedTuple):
    level: Level
    first: MapUnit
    second: MapUnit
    area_m2: float


def load_geojson(
    path: Path | str,
    *,
    crs: Crs = Crs.GCJ02,
    level: Level | None = None,
    code_key: str | None = None,
    name_key: str | None = None,
    parent_key: str | None = None,
    repair: bool = False,
    overlap_tolerance_m2: float = 1.0,
    progress: Progress | None = None,
) -> LoadedMap:
    """Read and validate one boundary file; see ``parse_geojson`` for the options."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: Windows tools prepend a BOM
    except FileNotFoundError:
        raise MapFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MapFileError(f"{path}: cannot be read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MapFileError(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    try:
        return parse_geojson(
            data,
            crs=crs,
            level=level,
            code_key=code_key,
            name_key=name_key,
            parent_key=parent_key,
            repair=repair,
            overlap_tolerance_m2=overlap_tolerance_m2,
            progress=progress,
        )
    except MapFileError as exc:
        raise type(exc)(f"{path.name}: {exc}") from None


def parse_geojson(
    data: object,
    *,
    crs: Crs = Crs.GCJ02,
    level: Level | None = None,
    code_key: str | None = None,
    name_key: str | None = None,
    parent_key: str | None = None,
    repair: bool = False,
    overlap_tolerance_m2: float = 1.0,
    progress: Progress | None = None,
) -> LoadedMap:
    """Validate already-decoded GeoJSON.

    ``level`` forces one level for every feature; otherwise a ``level`` property or the code's
    length (6 digits district, 9 street, 12 community, longer grid) decides. The ``*_key``
    arguments name the property to use instead of the usual candidates. Invalid rings raise
    ``RepairableGeometryError`` naming the first such unit, or with ``repair`` are fixed with
    make_valid and each named in a warning.
    """
    features = _features_of(data)
    warnings: list[str] = []
    parsed: list[ShapedUnit] = []
    invalid: list[str] = []
    keys = (code_key, name_key, parent_key)
    for index, feature in enumerate(features):
        try:
            parsed.append(_parse_feature(index, feature, keys, level, crs, repair, warnings))
        except RepairableGeometryError as exc:
            invalid.append(str(exc))  # go on: the operator learns how many need fixing
        if progress is not None and (index + 1) % _PROGRESS_EVERY == 0:
            progress(index + 1, len(features))
    if invalid:
        more = f" (and {len(invalid) - 1} more invalid units)" if len(invalid) > 1 else ""
        raise RepairableGeometryError(invalid[0] + more)
    if not parsed:
        raise MapFileError("no polygon features")
    _refuse_duplicate_codes(parsed)
    warnings.extend(_dangling_parents(parsed))
    warnings.extend(
        overlap_warning(found) for found in overlaps(parsed, tolerance_m2=overlap_tolerance_m2)
    )
    if progress is not None:
        progress(len(features), len(features))
    return LoadedMap([f.unit for f in parsed], warnings)


def _features_of(data: object) -> Sequence[Mapping[str, Any]]:
    if isinstance(data, Mapping):
        kind = data.get("type")
        if kind == "FeatureCollection" and isinstance(data.get("features"), list):
            data = data["features"]
        elif kind == "Feature":
            data = [data]
        else:
            raise MapFileError("not GeoJSON: expected a FeatureCollection or a list of Features")
    if not isinstance(data, list):
        raise MapFileError("not GeoJSON: expected a FeatureCollection or a list of Features")
    for index, feature in enumerate(data):
        if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
            raise MapFileError(f"not GeoJSON: item #{index + 1} is not a Feature")
    return data


def _parse_feature(
    index: int,
    feature: Mapping[str, Any],
    keys: tuple[str | None, str | None, str | None],
    level: Level | None,
    crs: Crs,
    repair: bool,
    warnings: list[str],
) -> ShapedUnit:
    props = feature.get("properties") or {}
    code_key, name_key, parent_key = keys
    code = _code(_lookup(props, code_key, CODE_KEYS, feature.get("id")))
    name = _lookup(props, name_key, NAME_KEYS)
    label = f"feature #{index + 1}" + (f" {name!r}" if name else "")
    if code is None:
        raise MapFileError(f"{label}: no code property (tried {', '.join(CODE_KEYS)})")
    if not name:
        warnings.append(f"{code}: no name property; the code is used as its name")
        name = code
    label = f"{name} ({code})"
    geometry = _polygonal_shape(label, feature.get("geometry"), repair, warnings)
    unit = MapUnit(
        code=code,
        name=str(name),
        level=level or _level(label, code, _lookup(props, None, LEVEL_KEYS)),
        parent_code=_parent_code(props, parent_key),
        geometry=feature["geometry"] if geometry.is_valid_input else geometry.repaired,
        crs=crs,
    )
    return ShapedUnit(unit, geometry.shape)


def _lookup(
    props: Mapping[str, Any], key: str | None, candidates: Iterable[str], default: Any = None
) -> Any:
    for candidate in (key,) if key else candidates:
        value: Any = props
        for part in candidate.split("."):  # "parent.adcode" reaches into DataV's nested parent
            value = value.get(part) if isinstance(value, Mapping) else None
        if value not in (None, ""):
            return value
    return default


def _code(value: Any) -> str | None:
    if isinstance(value, Mapping):  # {"adcode": 130300} as DataV writes a parent
        value = value.get("adcode", value.get("code"))
    if value is None or isinstance(value, bool) or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _parent_code(props: Mapping[str, Any], key: str | None) -> str | None:
    code = _code(_lookup(props, key, PARENT_KEYS))
    if code is None and key is None:
        # DataV lists the ancestors' adcodes, nearest last, instead of a parent property.
        routes = props.get("acroutes")
        if isinstance(routes, list) and routes:
            code = _code(routes[-1])
    return code


def _level(label: str, code: str, declared: Any) -> Level:
    if isinstance(declared, str) and declared.lower() in {lv.value for lv in Level}:
        return Level(declared.lower())
    if code.isdigit():
        if len(code) == 6:
            return Level.CITY if code.endswith("00") else Level.DISTRICT
        by_length = {9: Level.STREET, 12: Level.COMMUNITY}
        if len(code) in by_length:
            return by_length[len(code)]
        if len(code) > 12:
            return Level.GRID
    raise MapFileError(f"{label}: level unknown (no level property; code length does not say)")


class _Checked(NamedTuple):
    shape: BaseGeometry
    is_valid_input: bool
    repaired: dict[str, Any]


def _polygonal_shape(label: str, geometry: Any, repair: bool, warnings: list[str]) -> _Checked:
    if not isinstance(geometry, Mapping) or geometry.get("type") not in _POLYGONAL:
        kind = geometry.get("type") if isinstance(geometry, Mapping) else geometry
        raise MapFileError(f"{label}: geometry {kind} is not a Polygon or MultiPolygon")
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise MapFileError(f"{label}: malformed coordinates ({exc})") from None
    _refuse_out_of_range(label, geom)
    if geom.is_valid:
        return _Checked(geom, True, {})
    reason = explain_validity(geom)
    fixed = _polygonal_part(shapely.make_valid(geom))
    if fixed.is_empty or fixed.area == 0:
        raise MapFileError(f"{label}: invalid geometry ({reason}) with no area left once repaired")
    if not repair:
        raise RepairableGeometryError(f"{label}: invalid geometry ({reason})")
    warnings.append(f"{label}: invalid geometry repaired ({reason})")
    return _Checked(fixed, False, json.loads(shapely.to_geojson(fixed)))


def _refuse_out_of_range(label: str, geom: BaseGeometry) -> None:
    coords = shapely.get_coordinates(geom)
    if coords.size == 0:
        raise MapFileError(f"{label}: empty geometry")
    lon, lat = coords[:, 0], coords[:, 1]
    if not (np.isfinite(coords).all() and (abs(lon) <= 180).all() and (abs(lat) <= 90).all()):
        raise MapFileError(f"{label}: coordinates out of range (need [longitude, latitude])")


def _polygonal_part(geom: BaseGeometry) -> BaseGeometry:
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in _POLYGONAL]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _refuse_duplicate_codes(parsed: list[ShapedUnit]) -> None:
    seen: dict[str, str] = {}
    for feature in parsed:
        unit = feature.unit
        if unit.code in seen:
            raise MapFileError(f"duplicate code {unit.code} ({seen[unit.code]}, {unit.name})")
        seen[unit.code] = unit.name


def _dangling_parents(parsed: list[ShapedUnit]) -> list[str]:
    codes = {f.unit.code for f in parsed}
    top = min(f.unit.level.depth for f in parsed)
    # The top level's parents (the city above districts) are legitimately outside the file.
    return [
        f"{f.unit.name} ({f.unit.code}): parent {f.unit.parent_code} is not in the file"
        for f in parsed
        if f.unit.parent_code not in codes and f.unit.level.depth > top
    ]


def area_m2(geom: BaseGeometry) -> float:
    """Area of a lon/lat geometry in m², by a local equirectangular scale (city-sized areas)."""
    if geom.is_empty:
        return 0.0
    cos_lat = math.cos(math.radians(geom.centroid.y))
    return float(geom.area * _M_PER_DEG * _M_PER_DEG * cos_lat)


def overlaps(
    units: Sequence[ShapedUnit],
    others: Sequence[ShapedUnit] | None = None,
    *,
    tolerance_m2: float = 1.0,
) -> list[Overlap]:
    """Same-level pairs whose interiors share more than ``tolerance_m2``: pairs within
    ``units``, or with ``others`` each unit against each of ``others``."""
    found: list[Overlap] = []
    for level in Level:
        left = [u for u in units if u.unit.level is level]
        right = left if others is None else [u for u in others if u.unit.level is level]
        if not left or not right:
            continue
        left_shapes = np.array([u.shape for u in left], dtype=object)
        right_shapes = np.array([u.shape for u in right], dtype=object)
        i, j = shapely.STRtree(right_shapes).query(left_shapes, predicate="intersects")
        if others is None:
            once = i < j  # each pair once, never a unit with itself
            i, j = i[once], j[once]
        shared = shapely.intersection(left_shapes[i], right_shapes[j])
        for a, b, overlap in zip(i, j, shared, strict=True):
            area = area_m2(overlap)
            if area > tolerance_m2:
                found.append(Overlap(level, left[a].unit, right[b].unit, area))
    return found


def overlap_warning(overlap: Overlap, *, qualifier: str = "") -> str:
    """One line naming both units and the shared area; ``qualifier`` ("the stored") goes
    before the second unit's name."""
    a, b = overlap.first, overlap.second
    second = f"{qualifier} {b.name}".strip()
    return (
        f"{overlap.level} {a.name} ({a.code}) and {second} ({b.code}) "
        f"overlap by {overlap.area_m2:.0f} m²"
    )
