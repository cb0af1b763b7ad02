"""WGS-84 ↔ GCJ-02 ↔ BD-09 point conversions; every function takes and returns (lat, lon).

Phones report WGS-84; Chinese map exports (Amap, Tencent, DataV) are GCJ-02; Baidu is BD-09.
GCJ-02 is the public "Mars" formula on the Krasovsky ellipsoid; its forward direction is exact,
its inverse has no closed form, so ``gcj02_to_wgs84`` iterates the forward formula until the
error is far below a metre. Outside China the offset is not applied, as the official maps do.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from bot.domain.model import Crs

LatLon = tuple[float, float]
Converter = Callable[[float, float], LatLon]

_A = 6378245.0  # Krasovsky 1940 semi-major axis, fixed by the GCJ-02 formula
_EE = 0.00669342162296594323  # Krasovsky first eccentricity squared
_BD_K = math.pi * 3000.0 / 180.0
_INVERSE_STEPS = 30
_INVERSE_EPS_DEG = 1e-10  # ≈ 0.01 mm: far below the 0.5 m the inverse must reach


def out_of_china(lat: float, lon: float) -> bool:
    """The rough bounding box the GCJ-02 offset is applied in (the de-facto public test)."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _offset_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _offset_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_delta(lat: float, lon: float) -> LatLon:
    x, y = lon - 105.0, lat - 35.0
    rad_lat = lat / 180.0 * math.pi
    magic = 1.0 - _EE * math.sin(rad_lat) ** 2
    sqrt_magic = math.sqrt(magic)
    d_lat = _offset_lat(x, y) * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = _offset_lon(x, y) * 180.0 / (_A / sqrt_magic * math.cos(rad_lat) * math.pi)
    return d_lat, d_lon


def wgs84_to_gcj02(lat: float, lon: float) -> LatLon:
    if out_of_china(lat, lon):
        return lat, lon
    d_lat, d_lon = _gcj_delta(lat, lon)
    return lat + d_lat, lon + d_lon


def gcj02_to_wgs84(lat: float, lon: float) -> LatLon:
    """Fixed-point iteration on the forward formula; converges to < 1 mm in a few steps."""
    if out_of_china(lat, lon):
        return lat, lon
    w_lat, w_lon = lat, lon
    for _ in range(_INVERSE_STEPS):
        g_lat, g_lon = wgs84_to_gcj02(w_lat, w_lon)
        e_lat, e_lon = g_lat - lat, g_lon - lon
        w_lat, w_lon = w_lat - e_lat, w_lon - e_lon
        if abs(e_lat) < _INVERSE_EPS_DEG and abs(e_lon) < _INVERSE_EPS_DEG:
            break
    return w_lat, w_lon


def gcj02_to_bd09(lat: float, lon: float) -> LatLon:
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _BD_K)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _BD_K)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def bd09_to_gcj02(lat: float, lon: float) -> LatLon:
    x, y = lon - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _BD_K)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _BD_K)
    return z * math.sin(theta), z * math.cos(theta)


def wgs84_to_bd09(lat: float, lon: float) -> LatLon:
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))


def bd09_to_wgs84(lat: float, lon: float) -> LatLon:
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))


def _identity(lat: float, lon: float) -> LatLon:
    return lat, lon


_CONVERTERS: dict[tuple[Crs, Crs], Converter] = {
    (Crs.WGS84, Crs.GCJ02): wgs84_to_gcj02,
    (Crs.WGS84, Crs.BD09): wgs84_to_bd09,
    (Crs.GCJ02, Crs.WGS84): gcj02_to_wgs84,
    (Crs.GCJ02, Crs.BD09): gcj02_to_bd09,
    (Crs.BD09, Crs.WGS84): bd09_to_wgs84,
    (Crs.BD09, Crs.GCJ02): bd09_to_gcj02,
}


def converter(src: Crs, dst: Crs) -> Converter:
    """The function taking (lat, lon) in ``src`` to ``dst``; look it up once, call it often."""
    return _identity if src == dst else _CONVERTERS[(src, dst)]


def convert(lat: float, lon: float, src: Crs, dst: Crs) -> LatLon:
    return converter(src, dst)(lat, lon)


def to_map_crs(lat: float, lon: float, crs: Crs) -> LatLon:
    """A phone's WGS-84 point expressed in the CRS a map is drawn in."""
    return converter(Crs.WGS84, crs)(lat, lon)
