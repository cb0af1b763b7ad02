"""The map snippet sent with a report: a PNG of the grid, its neighbours and a red pin."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.domain.model import Level
from bot.geo import render
from bot.geo.crs import gcj02_to_wgs84
from bot.geo.geojson import load_geojson
from bot.geo.render import GRID_FILL, frame_for, render_map_png
from bot.geo.router import GridMap
from bot.geo.samplemap import SAMPLE_MAP_PATH

DEMO_GRID = "130302006001003"  # 天洋新城社区第3网格


@pytest.fixture(scope="module")
def gridmap() -> GridMap:
    units, _ = load_geojson(SAMPLE_MAP_PATH)
    return GridMap(u for u in units if u.level in (Level.GRID, Level.COMMUNITY))


def demo_point(gridmap: GridMap) -> tuple[float, float]:
    inner = gridmap.geometry(DEMO_GRID).representative_point()
    return gcj02_to_wgs84(inner.y, inner.x)


def test_the_snippet_is_a_png_of_the_requested_size(gridmap: GridMap) -> None:
    data = render_map_png(DEMO_GRID, *demo_point(gridmap), gridmap, size=(320, 240))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.size == (320, 240)


def test_the_reported_point_is_a_red_pin_in_the_filled_grid(gridmap: GridMap) -> None:
    lat, lon = demo_point(gridmap)
    image = Image.open(io.BytesIO(render_map_png(DEMO_GRID, lat, lon, gridmap))).convert("RGB")
    frame = frame_for(gridmap, DEMO_GRID, lat, lon, image.size)
    inner = gridmap.geometry(DEMO_GRID).representative_point()
    x, y = frame.pixel(inner.x, inner.y)
    red, green, blue = image.getpixel((round(x), round(y)))  # type: ignore[misc]
    assert red > 200 and green < 60 and blue < 60
    assert (
        image.getpixel((round(x) + 15, round(y))) == GRID_FILL
        or image.getpixel((round(x) - 15, round(y))) == GRID_FILL
    )


def test_a_point_outside_the_grid_is_still_in_the_picture(gridmap: GridMap) -> None:
    x0, y0, _, _ = gridmap.geometry(DEMO_GRID).bounds
    lat, lon = gcj02_to_wgs84(y0 - 0.002, x0 - 0.002)  # ≈ 200 m south-west of the grid's box
    image = Image.open(io.BytesIO(render_map_png(DEMO_GRID, lat, lon, gridmap))).convert("RGB")
    x, y = frame_for(gridmap, DEMO_GRID, lat, lon, image.size).pixel(x0 - 0.002, y0 - 0.002)
    assert 0 <= x < image.width and 0 <= y < image.height
    red, green, _ = image.getpixel((round(x), round(y)))  # type: ignore[misc]
    assert red > 200 and green < 60


def test_the_snippet_names_its_grid_in_a_title_on_white(gridmap: GridMap) -> None:
    x0, _, _, y1 = gridmap.geometry(DEMO_GRID).bounds
    lat, lon = gcj02_to_wgs84(y1 - 0.0002, x0 + 0.0002)  # the pin in a corner, away from it
    image = Image.open(io.BytesIO(render_map_png(DEMO_GRID, lat, lon, gridmap))).convert("RGB")
    assert image.getpixel((9, 14)) == (255, 255, 255)  # the title's box
    title = [image.getpixel((x, y)) for x in range(10, 120) for y in range(8, 22)]
    assert sum(1 for r, g, b in title if r < 90 and g < 90 and b < 90) > 20  # its letters


def test_a_grids_second_picture_drawn_on_its_cached_base_is_the_one_drawn_afresh(
    gridmap: GridMap,
) -> None:
    inner = gridmap.geometry(DEMO_GRID).buffer(-0.0003)
    x0, y0, x1, y1 = inner.bounds
    first = gcj02_to_wgs84(y0 + (y1 - y0) / 3, x0 + (x1 - x0) / 3)
    second = gcj02_to_wgs84(y0 + 2 * (y1 - y0) / 3, x0 + 2 * (x1 - x0) / 3)
    render_map_png(DEMO_GRID, *first, gridmap)
    on_cached_base = render_map_png(DEMO_GRID, *second, gridmap)
    render._BASES.clear()
    afresh = render_map_png(DEMO_GRID, *second, gridmap)
    assert on_cached_base == afresh
    assert on_cached_base != render_map_png(DEMO_GRID, *first, gridmap)  # the pin moved
