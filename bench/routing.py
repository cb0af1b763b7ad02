"""Routing speed and map load cost, side by side in one run (ratios, not absolute goals).

For 1,485 and 100,000 synthetic grids (a jittered lattice in GCJ-02 around Qinhuangdao):
  ours        GridMap.route(lat, lon) with a WGS-84 point: CRS conversion + cell index + result
  tree only   the same with cell_index=False: CRS conversion + Point + STRtree (the old path)
  bare        shapely STRtree.query(Point(x, y), predicate="within") on the same polygons,
              the point already in the map's CRS and the Point built per call
  prebuilt    the same query given a Point built in advance (the strict reading of the goal)
  linear      shapely.contains_xy over every polygon (a vectorised linear scan)
then the time and resident memory to load the 100,000-grid map.
Goals: ours ≤ 1.5× bare and ≤ 1.5× prebuilt; load ≤ 3 s and ≤ 300 MB.
"""

from __future__ import annotations

import gc
import random
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import shapely

from bot.domain.model import Crs, Level, MapUnit
from bot.geo.crs import gcj02_to_wgs84
from bot.geo.router import GridMap

ORIGIN = (119.40, 39.80)  # lon, lat (GCJ-02)
CELL = 0.002  # degrees: ≈ 170 m × 220 m, a dense urban grid
ROUNDS = 5


def lattice(count: int, seed: int = 1) -> list[MapUnit]:
    """``count`` quadrilateral grids tessellating a rectangle; shared corners are jittered."""
    rng = random.Random(seed)
    cols = int(count**0.5)
    rows = -(-count // cols)
    corners = [
        [
            (
                ORIGIN[0] + (i + (rng.uniform(-0.3, 0.3) if 0 < i < cols else 0)) * CELL,
                ORIGIN[1] + (j + (rng.uniform(-0.3, 0.3) if 0 < j < rows else 0)) * CELL,
            )
            for j in range(rows + 1)
        ]
        for i in range(cols + 1)
    ]
    units = []
    for n in range(count):
        i, j = n % cols, n // cols
        ring = [corners[i][j], corners[i + 1][j], corners[i + 1][j + 1], corners[i][j + 1]]
        units.append(
            MapUnit(
                code=f"G{n:07d}",
                name=f"网格{n}",
                level=Level.GRID,
                parent_code=f"C{n // 8:06d}",
                geometry={"type": "Polygon", "coordinates": [[*map(list, ring), list(ring[0])]]},
                crs=Crs.GCJ02,
            )
        )
    return units


def sample_points(
    gridmap: GridMap, units: Sequence[MapUnit], n: int, seed: int = 2
) -> list[tuple[float, float]]:
    """(lat, lon) in GCJ-02: a random grid, then a random point inside it (the common case)."""
    rng = random.Random(seed)
    points: list[tuple[float, float]] = []
    while len(points) < n:
        geom = gridmap.geometry(rng.choice(units).code)
        x0, y0, x1, y1 = geom.bounds
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if shapely.contains_xy(geom, x, y):
            points.append((y, x))
    return points


def per_point_us(run: Callable[[], object], n: int) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compare(count: int, n_points: int, n_linear: int) -> None:
    units = lattice(count)
    gridmap = GridMap(units)
    gcj = sample_points(gridmap, units, n_points)
    wgs = [gcj02_to_wgs84(lat, lon) for lat, lon in gcj]
    polygons = [gridmap.geometry(u.code) for u in units]
    tree = shapely.STRtree(polygons)  # polygons are already prepared by GridMap
    points = [shapely.Point(lon, lat) for lat, lon in gcj]
    route = gridmap.route
    route_by_tree = GridMap(units, cell_index=False).route

    ours = per_point_us(lambda: [route(lat, lon) for lat, lon in wgs], n_points)
    tree_only = per_point_us(lambda: [route_by_tree(lat, lon) for lat, lon in wgs], n_points)
    bare = per_point_us(
        lambda: [tree.query(shapely.Point(lon, lat), predicate="within") for lat, lon in gcj],
        n_points,
    )
    prebuilt = per_point_us(lambda: [tree.query(p, predicate="within") for p in points], n_points)
    linear = per_point_us(
        lambda: [shapely.contains_xy(polygons, lon, lat) for lat, lon in gcj[:n_linear]], n_linear
    )
    print(
        f"{count:>7,} grids | ours {ours:5.2f} µs | tree only {tree_only:5.2f} µs | "
        f"bare {bare:5.2f} µs | prebuilt {prebuilt:5.2f} µs | linear {linear:8.1f} µs\n"
        f"{'':>13} | ours/bare {ours / bare:4.2f}× and ours/prebuilt {ours / prebuilt:4.2f}× "
        f"(goal both ≤ 1.5) | tree only/ours {tree_only / ours:4.2f}× | "
        f"linear/ours {linear / ours:5.0f}×"
    )


def load_cost(count: int) -> None:
    """Run first, in a fresh process: RSS growth is then the map plus its input records."""
    gc.collect()
    baseline = rss_mb()
    units = lattice(count)
    with_input = rss_mb()
    start = time.perf_counter()
    gridmap = GridMap(units)
    seconds = time.perf_counter() - start
    loaded = rss_mb()
    print(
        f"load {count:,} grids: {seconds:.2f} s (goal ≤ 3) | resident: map "
        f"{loaded - with_input:.0f} MB + input records {with_input - baseline:.0f} MB, "
        f"process {loaded:.0f} MB (goal ≤ 300)"
    )
    assert gridmap.counts_by_level()[Level.GRID] == count


def main() -> None:
    print(__doc__.strip().splitlines()[0] if __doc__ else "")
    load_cost(100_000)
    compare(1_485, n_points=20_000, n_linear=2_000)
    compare(100_000, n_points=20_000, n_linear=50)


if __name__ == "__main__":
    main()
