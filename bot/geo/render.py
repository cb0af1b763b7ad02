"""A small PNG of a grid and a reported point, drawn from the map itself (no tile server).

Workers get it with a report so they see at a glance where in their grid the hazard is.
The view is an equirectangular projection around the grid: at city scale a degree of
longitude is simply cos(latitude) times a degree of latitude, so distances look true.
"""

from __future__ import annotations

import functools
import io
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from weakref import WeakKeyDictionary

import shapely
from PIL import Image, ImageDraw, ImageFont
from shapely.geometry.base import BaseGeometry

from bot.geo.crs import to_map_crs
from bot.geo.router import GridMap

Size = tuple[int, int]
Pixel = tuple[float, float]

BACKGROUND = (250, 250, 247)
GRID_FILL = (214, 232, 250)
GRID_LINE = (40, 100, 180)
NEIGHBOUR_LINE = (150, 150, 150)
LABEL = (110, 110, 110)
PIN = (220, 20, 30)
INK = (30, 30, 30)
MARGIN = 0.12  # share of each side left around the grid and the point
_M_PER_DEG = 111_195.0  # mean metres per degree of latitude
_NICE_LENGTHS_M = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000)
# Fonts with Chinese glyphs, tried in order; without one the labels fall back to grid numbers.
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
)


@dataclass(frozen=True, slots=True)
class MapFrame:
    """Where map coordinates (lon, lat in the map's CRS) land on the image."""

    centre_x: float
    centre_y: float
    px_per_deg_y: float
    cos_lat: float
    size: Size

    def pixel(self, x: float, y: float) -> Pixel:
        width, height = self.size
        px = width / 2 + (x - self.centre_x) * self.px_per_deg_y * self.cos_lat
        py = height / 2 - (y - self.centre_y) * self.px_per_deg_y
        return px, py

    @property
    def metres_per_pixel(self) -> float:
        return _M_PER_DEG / self.px_per_deg_y


def frame_for(gridmap: GridMap, grid_code: str, lat: float, lon: float, size: Size) -> MapFrame:
    """The frame showing the whole grid and the (WGS-84) point, with a margin."""
    y, x = to_map_crs(lat, lon, gridmap.crs)
    x0, y0, x1, y1 = gridmap.geometry(grid_code).bounds
    x0, x1, y0, y1 = min(x0, x), max(x1, x), min(y0, y), max(y1, y)
    cos_lat = math.cos(math.radians((y0 + y1) / 2))
    usable_w, usable_h = (side * (1 - 2 * MARGIN) for side in size)
    span_x, span_y = max((x1 - x0) * cos_lat, 1e-6), max(y1 - y0, 1e-6)
    scale = min(usable_w / span_x, usable_h / span_y)
    return MapFrame((x0 + x1) / 2, (y0 + y1) / 2, scale, cos_lat, size)


def render_map_png(
    grid_code: str, point_lat: float, point_lon: float, gridmap: GridMap, size: Size = (480, 360)
) -> bytes:
    """PNG bytes: the grid filled, its neighbours outlined and labelled, a pin, a scale bar."""
    frame = frame_for(gridmap, grid_code, point_lat, point_lon, size)
    image = _base(gridmap, grid_code, frame).copy()
    draw = ImageDraw.Draw(image)
    name = gridmap.unit(grid_code).name
    y, x = to_map_crs(point_lat, point_lon, gridmap.crs)
    pin = frame.pixel(x, y)
    grid = gridmap.geometry(grid_code)
    label = _short_name(name, _font(12))
    _draw_label(draw, frame, grid, label, _font(14), fill=GRID_LINE, avoid=pin)
    _draw_pin(draw, pin)
    _draw_title(draw, _title(name, grid_code, _font(15)), _font(15))
    out = io.BytesIO()
    # Not optimize=True: it tries every filter for ~10 % fewer bytes and was 64 % of the
    # drawing's CPU, paid inside the alert's transaction.
    image.save(out, format="PNG")
    return out.getvalue()


# The parts of a grid's picture that do not depend on the point: most alerts of a grid show
# the same frame (a point inside the grid's box). Keyed by the map object, so a new map
# version draws afresh; a few dozen pictures of 0.5 MB at most.
_BASES: WeakKeyDictionary[GridMap, OrderedDict[tuple[str, MapFrame], Image.Image]]
_BASES = WeakKeyDictionary()
_BASES_PER_MAP = 32
_BASES_LOCK = threading.Lock()  # alerts draw in worker threads (asyncio.to_thread)


def _base(gridmap: GridMap, grid_code: str, frame: MapFrame) -> Image.Image:
    """The neighbours, the filled grid and the scale bar in ``frame``, drawn once per frame."""
    key = (grid_code, frame)
    with _BASES_LOCK:
        cached = _BASES.setdefault(gridmap, OrderedDict())
        if key in cached:
            cached.move_to_end(key)
            return cached[key]
    image = Image.new("RGB", frame.size, BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(12)
    for ref in gridmap.neighbours(grid_code):
        geom = gridmap.geometry(ref.code)
        _draw_geometry(draw, frame, geom, fill=None, outline=NEIGHBOUR_LINE)
        _draw_label(draw, frame, geom, _short_name(ref.name, font), font)
    _draw_geometry(draw, frame, gridmap.geometry(grid_code), fill=GRID_FILL, outline=GRID_LINE)
    _draw_scale_bar(draw, frame, font)
    with _BASES_LOCK:
        cached[key] = image
        if len(cached) > _BASES_PER_MAP:
            cached.popitem(last=False)
    return image


def _draw_geometry(
    draw: ImageDraw.ImageDraw,
    frame: MapFrame,
    geom: BaseGeometry,
    *,
    fill: tuple[int, int, int] | None,
    outline: tuple[int, int, int],
) -> None:
    for polygon in shapely.get_parts(geom):
        draw.polygon([frame.pixel(x, y) for x, y in polygon.exterior.coords], fill=fill)
        for hole in polygon.interiors:
            draw.polygon([frame.pixel(x, y) for x, y in hole.coords], fill=BACKGROUND)
        for ring in (polygon.exterior, *polygon.interiors):
            draw.line([frame.pixel(x, y) for x, y in ring.coords], fill=outline, width=2)


def _draw_label(
    draw: ImageDraw.ImageDraw,
    frame: MapFrame,
    geom: BaseGeometry,
    text: str,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    *,
    fill: tuple[int, int, int] = LABEL,
    avoid: Pixel | None = None,
) -> None:
    if not text:
        return
    anchor = geom.representative_point()
    px, py = frame.pixel(anchor.x, anchor.y)
    x0, y0, x1, y1 = draw.textbbox((px, py), text, font=font, anchor="mm")
    gx0, gy1 = frame.pixel(geom.bounds[0], geom.bounds[1])
    gx1, gy0 = frame.pixel(geom.bounds[2], geom.bounds[3])
    width, height = frame.size
    if avoid is not None and x0 - 12 <= avoid[0] <= x1 + 12 and y0 - 12 <= avoid[1] <= y1 + 12:
        return  # the pin is there; the title names the grid anyway
    # Only where the label fits inside its grid's box and inside the picture.
    if x0 >= max(gx0, 0) and x1 <= min(gx1, width) and y0 >= max(gy0, 0) and y1 <= min(gy1, height):
        draw.text((px, py), text, font=font, fill=fill, anchor="mm")


def _draw_title(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont
) -> None:
    """The grid's name in the top-left corner, on white, so it reads over any drawing."""
    x0, y0, x1, y1 = draw.textbbox((10, 8), text, font=font)
    draw.rectangle((x0 - 5, y0 - 4, x1 + 5, y1 + 4), fill=(255, 255, 255), outline=GRID_LINE)
    draw.text((10, 8), text, font=font, fill=INK)


def _title(name: str, code: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> str:
    """The grid's full name, or its code where the font cannot draw Chinese."""
    return name if _has_cjk(font) or name.isascii() else code


def _has_cjk(font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> bool:
    return isinstance(font, ImageFont.FreeTypeFont) and font.path in _CJK_FONTS


def _draw_pin(draw: ImageDraw.ImageDraw, at: Pixel) -> None:
    x, y = at
    draw.ellipse((x - 8, y - 8, x + 8, y + 8), fill=(255, 255, 255))
    draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=PIN)


def _draw_scale_bar(
    draw: ImageDraw.ImageDraw, frame: MapFrame, font: ImageFont.ImageFont | ImageFont.FreeTypeFont
) -> None:
    width, height = frame.size
    longest_px = width / 4
    metres = max(
        (m for m in _NICE_LENGTHS_M if m / frame.metres_per_pixel <= longest_px),
        default=_NICE_LENGTHS_M[0],
    )
    length = metres / frame.metres_per_pixel
    x0, y = 12.0, height - 14.0
    draw.line([(x0, y), (x0 + length, y)], fill=INK, width=3)
    for tick in (x0, x0 + length):
        draw.line([(tick, y - 5), (tick, y)], fill=INK, width=2)
    label = f"{metres // 1000} km" if metres >= 1000 else f"{metres} m"
    draw.text((x0 + length + 8, y), label, font=font, fill=INK, anchor="lm")


@functools.cache  # a TrueType font is read from disk and parsed each time otherwise
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for path in _CJK_FONTS:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _short_name(name: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont) -> str:
    """ "天洋新城社区第3网格" → "第3网格", or "3" when the font has no Chinese glyphs."""
    match = re.search(r"第(\d+)网格$", name)
    has_cjk = _has_cjk(font)
    if match:
        return match.group(0) if has_cjk else match.group(1)
    return name if has_cjk or name.isascii() else ""
