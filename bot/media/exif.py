"""What intake reads from EXIF: orientation, GPS position (WGS-84 decimal degrees), time taken.

Every value is sanity-checked; a value that fails is treated as absent rather than
trusted, because a wrong position routes a report to the wrong grid.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from PIL import Image
from PIL.ExifTags import GPS, IFD, Base

_DATETIME = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
_EARLIEST_YEAR, _LATEST_YEAR = 1990, 2099  # outside this a camera clock was never set
_TAKEN_TAGS = (
    (Base.DateTimeOriginal, Base.OffsetTimeOriginal),
    (Base.DateTimeDigitized, Base.OffsetTimeDigitized),
)


@dataclass(frozen=True, slots=True)
class ExifFacts:
    """The three things intake takes from EXIF; everything else in it is dropped unread."""

    orientation: int = 1
    gps: tuple[float, float] | None = None
    taken_at: datetime | None = None


def read_exif(payload: bytes | None) -> ExifFacts:
    """Orientation, position and time from an APP1/eXIf payload, through Pillow's reader.

    Broken EXIF is treated as none, never as a broken photo."""
    exif = Image.Exif()
    if payload:
        try:
            exif.load(payload)
        except Exception:  # fuzzed EXIF raises a dozen different types
            return ExifFacts()
    return ExifFacts(orientation=orientation(exif), gps=gps_position(exif), taken_at=taken_at(exif))


def orientation(exif: Image.Exif) -> int:
    return _orientation_value(exif.get(Base.Orientation))


def gps_position(exif: Image.Exif) -> tuple[float, float] | None:
    try:
        gps = exif.get_ifd(IFD.GPSInfo)
    except Exception:  # a GPS IFD pointer into garbage
        return None
    return _position(gps)


def taken_at(exif: Image.Exif) -> datetime | None:
    """When the photo was taken; aware if the camera wrote its UTC offset, else camera-local."""
    try:
        tags = exif.get_ifd(IFD.Exif)
    except Exception:  # an Exif IFD pointer into garbage
        return None
    return _time_taken(tags)


def _orientation_value(value: object) -> int:
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _position(gps: Mapping[int, Any]) -> tuple[float, float] | None:
    if not gps or _text(gps.get(GPS.GPSStatus)) == "V":  # V = void: no fix when taken
        return None
    datum = _text(gps.get(GPS.GPSMapDatum))
    if re.sub(r"[^A-Z0-9]", "", datum.upper()) not in ("", "WGS84"):
        return None  # another datum would need a transformation we do not have
    lat = _degrees(gps.get(GPS.GPSLatitude), _text(gps.get(GPS.GPSLatitudeRef)), "NS", 90)
    lon = _degrees(gps.get(GPS.GPSLongitude), _text(gps.get(GPS.GPSLongitudeRef)), "EW", 180)
    if lat is None or lon is None or (lat == 0 and lon == 0):  # 0,0 is a receiver without a fix
        return None
    return lat, lon


def _time_taken(tags: Mapping[int, Any]) -> datetime | None:
    for time_tag, offset_tag in _TAKEN_TAGS:
        taken = _parse_datetime(_text(tags.get(time_tag)))
        if taken is not None:
            return taken.replace(tzinfo=_parse_offset(_text(tags.get(offset_tag))))
    return None


def _degrees(value: object, ref: str, hemispheres: str, limit: float) -> float | None:
    # Without N/S or E/W the sign is a guess; a guess can put the hazard on another continent.
    if not ref or ref[0] not in hemispheres:
        return None
    parts = _numbers(value)
    if parts is None or not 1 <= len(parts) <= 3:
        return None
    if any(p < 0 for p in parts) or any(p >= 60 for p in parts[1:]):
        return None
    degrees = sum(p / 60.0**i for i, p in enumerate(parts))
    if degrees > limit:
        return None
    return -degrees if ref[0] == hemispheres[1] else degrees


def _numbers(value: object) -> list[float] | None:
    items = value if isinstance(value, tuple) else (value,)
    try:
        numbers = [float(v) for v in items]
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return numbers if all(math.isfinite(n) for n in numbers) else None


def _parse_datetime(text: str) -> datetime | None:
    match = _DATETIME.match(text)
    if match is None:
        return None
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        taken = datetime(year, month, day, hour, minute, second)
    except ValueError:  # 0000:00:00 00:00:00 and other impossible dates
        return None
    return taken if _EARLIEST_YEAR <= taken.year <= _LATEST_YEAR else None


def _parse_offset(text: str) -> timezone | None:
    match = _OFFSET.fullmatch(text)
    if match is None:
        return None
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta > timedelta(hours=14):
        return None
    return timezone(-delta if sign == "-" else delta)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return value.strip("\x00 ").strip() if isinstance(value, str) else ""
