"""Read a grid map from GeoJSON the way real map tools export it, and validate it.

Accepted: a FeatureCollection, a bare JSON list of Features (DataV GeoAtlas exports) or one
Feature; Polygon or MultiPolygon geometries; code/name/parent/level found under the common
property names or named by the caller. The whole file is refused (``MapFileError``) when a
unit cannot be trusted — a map with a hole in it would silently misroute reports — while
fixable problems (repaired rings, overlaps, dangling parents) come back as warnings.
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


class LoadedMap(NamedTuple):
    units: list[MapUnit]
    warnings: list[str]


class _Feature(NamedTuple):
    unit: MapUnit
    shape: BaseGeometry


def load_geojson(
    path: Path | str,
    *,
    crs: Crs = Crs.GCJ02,
    level: Level | None = None,
    code_key: str | None = None,
    name_key: str | None = None,
    parent_key: str | None = None,
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
            overlap_tolerance_m2=overlap_tolerance_m2,
            progress=progress,
        )
    except MapFileError as exc:
        raise MapFileError(f"{path.name}: {exc}") from None


def parse_geojson(
    data: object,
    *,
    crs: Crs = Crs.GCJ02,
    level: Level | None = None,
    code_key: str | None = None,
    name_key: str | None = None,
    parent_key: str | None = None,
    overlap_tolerance_m2: float = 1.0,
    progress: Progress | None = None,
) -> LoadedMap:
    """Validate already-decoded GeoJSON.

    ``level`` forces one level for every feature; otherwise a ``level`` property or the code's
    length (6 digits district, 9 street, 12 community, longer grid) decides. The ``*_key``
    arguments name the property to use instead of the usual candidates.
    """
    features = _features_of(data)
    warnings: list[str] = []
    parsed: list[_Feature] = []
    keys = (code_key, name_key, parent_key)
    for index, feature in enumerate(features):
        parsed.append(_parse_feature(index, feature, keys, level, crs, warnings))
        if progress is not None and (index + 1) % _PROGRESS_EVERY == 0:
            progress(index + 1, len(features))
    if not parsed:
        raise MapFileError("no polygon features")
    _refuse_duplicate_codes(parsed)
    warnings.extend(_dangling_parents(parsed))
    warnings.extend(_overlap_warnings(parsed, tolerance_m2=overlap_tolerance_m2))
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
    warnings: list[str],
) -> _Feature:
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
    geometry = _polygonal_shape(label, feature.get("geometry"), warnings)
    unit = MapUnit(
        code=code,
        name=str(name),
        level=level or _level(label, code, _lookup(props, None, LEVEL_KEYS)),
        parent_code=_parent_code(props, parent_key),
        geometry=feature["geometry"] if geometry.is_valid_input else geometry.repaired,
        crs=crs,
    )
    return _Feature(unit, geometry.shape)


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


def _polygonal_shape(label: str, geometry: Any, warnings: list[str]) -> _Checked:
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
    reason = shapely.is_valid_reason(geom)
    fixed = _polygonal_part(shapely.make_valid(geom))
    if fixed.is_empty or fixed.area == 0:
        raise MapFileError(f"{label}: invalid geometry ({reason}) with no area left once repaired")
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


def _refuse_duplicate_codes(parsed: list[_Feature]) -> None:
    seen: dict[str, str] = {}
    for feature in parsed:
        unit = feature.unit
        if unit.code in seen:
            raise MapFileError(f"duplicate code {unit.code} ({seen[unit.code]}, {unit.name})")
        seen[unit.code] = unit.name


def _dangling_parents(parsed: list[_Feature]) -> list[str]:
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


def _overlap_warnings(parsed: Sequence[_Feature], *, tolerance_m2: float = 1.0) -> list[str]:
    """Pairs of same-level units whose interiors share more than ``tolerance_m2``."""
    warnings: list[str] = []
    for level in Level:
        same = [f for f in parsed if f.unit.level is level]
        if len(same) < 2:
            continue
        shapes = np.array([f.shape for f in same], dtype=object)
        left, right = shapely.STRtree(shapes).query(shapes, predicate="intersects")
        pairs = left < right
        left, right = left[pairs], right[pairs]
        overlaps = shapely.intersection(shapes[left], shapes[right])
        for i, j, overlap in zip(left, right, overlaps, strict=True):
            area = area_m2(overlap)
            if area > tolerance_m2:
                a, b = same[i].unit, same[j].unit
                warnings.append(
                    f"{level} {a.name} ({a.code}) and {b.name} ({b.code}) overlap by {area:.0f} m²"
                )
    return warnings
