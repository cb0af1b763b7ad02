"""``gridsnap map import | route | stats`` as an operator runs them: the installed command, in
a new process, against a real database file (and PostgreSQL once).

Every refused input must leave the database exactly as it was, so those tests compare the
map version and the row counts before and after.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.cli_kit import run_gridsnap

REPO = Path(__file__).resolve().parents[2]
SAMPLE_MAP = REPO / "bot" / "data" / "sample_map.geojson"
# ../shared from the main checkout; a worktree under /work/wt/<name> finds it further up.
REALWORLD = next(
    (p / "shared" / "data" / "realworld" for p in REPO.parents if (p / "shared").is_dir()),
    REPO.parent / "shared" / "data" / "realworld",
)
BOUNDARIES = REALWORLD / "boundaries"
PHOTO = REALWORLD / "photos" / "gps" / "DSCN0010.jpg"

# Inside the sample map's 天洋新城社区第3网格 once a phone's WGS-84 is shifted to GCJ-02 (~500 m);
# the same numbers read as GCJ-02 fall in a grid to the west.
TIANYANG_3 = "130302006001003"
TIANYANG_3_WGS84 = ("39.97319", "119.58518")
TIANYANG_3_GCJ02 = ("39.97430", "119.59097")
ITALY = ("43.72", "10.40")  # Pisa, where the realworld photos were taken
BOHAI_SEA = ("39.60", "119.90")
EAST_EDGE_85M_GCJ02 = ("40.0", "119.801")  # 85 m east of 锦绣苑社区第6网格, within 300 m


def gridsnap(*args: str, db: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_gridsnap(*args, url=db, **env)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def snapshot(path: Path) -> tuple[float, ...] | None:
    """Map version, version rows, region rows, active regions, total geometry text length."""
    if not path.exists():
        return None
    with contextlib.closing(sqlite3.connect(path)) as db:
        row = db.execute(
            "SELECT (SELECT coalesce(max(version), 0) FROM map_versions),"
            " (SELECT count(*) FROM map_versions), (SELECT count(*) FROM regions),"
            " (SELECT count(*) FROM regions WHERE active), (SELECT total(length(geometry))"
            " FROM regions)"
        ).fetchone()
    return tuple(row)


def assert_one_line_error(
    done: subprocess.CompletedProcess[str], *fragments: str, code: int = 2
) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def assert_usage_error(done: subprocess.CompletedProcess[str], parameter: str) -> None:
    assert done.returncode == 2, done.stderr
    assert f"Invalid value for '{parameter}'" in done.stderr
    assert "Traceback" not in done.stderr


def write_features(path: Path, *features: dict[str, object]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


def grid_feature(code: str, name: str, ring: list[list[float]]) -> dict[str, object]:
    props = {"code": code, "name": name, "parent": "130302006001"}  # a sample community
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }


def square(x: float, y: float, size: float = 0.002) -> list[list[float]]:
    return [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]


@pytest.fixture(scope="module")
def sample_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "gridsnap.db"
    done = gridsnap("map", "import", str(SAMPLE_MAP), db=sqlite_url(path))
    assert done.returncode == 0, done.stderr
    return path


@pytest.fixture
def sample_db(sample_db_template: Path, tmp_path: Path) -> Path:
    """A SQLite file holding the sample map as version 1, private to the test."""
    path = tmp_path / "gridsnap.db"
    for suffix in ("", "-wal", "-shm"):
        source = sample_db_template.with_name(sample_db_template.name + suffix)
        if source.exists():
            shutil.copyfile(source, path.with_name(path.name + suffix))
    return path


# -- the happy path, on both backends ---------------------------------------------------------


def test_the_sample_map_and_a_real_district_file_import_into_an_empty_database(
    database_url: str,
) -> None:
    first = gridsnap("map", "import", str(SAMPLE_MAP), db=database_url)
    assert first.returncode == 0, first.stderr
    assert "imported 1698 units: 4 district, 23 street, 186 community, 1485 grid" in first.stdout
    assert "map version 1" in first.stdout

    real = BOUNDARIES / "qinhuangdao_130300_districts.json"
    second = gridsnap("map", "import", str(real), "--level", "district", db=database_url)
    assert second.returncode == 0, second.stderr
    assert "imported 7 units: 7 district" in second.stdout
    assert "map version 2; in force: 7 district, 23 street, 186 community, 1485 grid" in (
        second.stdout
    )
    assert "parent 130300 of 7 district unit(s) is not in the map" in second.stderr

    stats = gridsnap("map", "stats", db=database_url)
    assert stats.returncode == 0, stats.stderr
    assert "map version 2 (gcj02)" in stats.stdout
    assert "district  7" in stats.stdout and "grid      1485" in stats.stdout

    routed = gridsnap("map", "route", *TIANYANG_3_WGS84, "--json", db=database_url)
    assert routed.returncode == 0, routed.stderr
    path = json.loads(routed.stdout)["path"]
    # The real district boundary replaced the synthetic one under the same code.
    assert path[-1] == {"level": "district", "code": "130302", "name": "海港区"}


# -- route --------------------------------------------------------------------------------


def test_issue8_routing_with_no_map_imported_says_so_in_one_line_as_stats_does(
    tmp_path: Path,
) -> None:
    db = sqlite_url(tmp_path / "fresh.db")
    done = gridsnap("map", "route", *TIANYANG_3_WGS84, "--json", db=db)
    assert_one_line_error(done, "no map imported yet")
    assert "no map imported yet" in gridsnap("map", "stats", db=db).stdout
    assert snapshot(tmp_path / "fresh.db") == (0, 0, 0, 0, 0)


def test_routing_on_the_imported_sample_map_prints_the_json_shape(sample_db: Path) -> None:
    db = sqlite_url(sample_db)
    done = gridsnap("map", "route", *TIANYANG_3_WGS84, "--json", db=db)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "status": "inside",
        "unit": {"level": "grid", "code": TIANYANG_3, "name": "天洋新城社区第3网格"},
        "grid": {"code": TIANYANG_3, "name": "天洋新城社区第3网格"},
        "path": [
            {"level": "grid", "code": TIANYANG_3, "name": "天洋新城社区第3网格"},
            {"level": "community", "code": "130302006001", "name": "天洋新城社区"},
            {"level": "street", "code": "130302006", "name": "燕山大街街道"},
            {"level": "district", "code": "130302", "name": "海港区"},
        ],
        "distance_m": 0.0,
    }
    assert "map version 1" in gridsnap("map", "stats", db=db).stdout


def test_a_point_given_in_gcj02_is_routed_only_when_the_crs_says_so(sample_db: Path) -> None:
    db = sqlite_url(sample_db)
    as_gcj = gridsnap("map", "route", *TIANYANG_3_GCJ02, "--crs", "gcj02", db=db)
    as_wgs = gridsnap("map", "route", *TIANYANG_3_GCJ02, db=db)
    assert as_gcj.stdout.startswith(f"inside: 天洋新城社区第3网格 ({TIANYANG_3})")
    assert as_wgs.returncode == 0 and TIANYANG_3 not in as_wgs.stdout


@pytest.mark.parametrize("point", [ITALY, BOHAI_SEA], ids=["italy", "bohai-sea"])
def test_a_point_far_from_every_grid_is_outside(sample_db: Path, point: tuple[str, str]) -> None:
    done = gridsnap("map", "route", *point, "--json", db=sqlite_url(sample_db))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "status": "outside",
        "unit": None,
        "grid": None,
        "path": [],
        "distance_m": None,
    }


def test_a_point_just_outside_the_map_goes_to_the_nearest_grid_with_its_distance(
    sample_db: Path,
) -> None:
    done = gridsnap(
        "map", "route", *EAST_EDGE_85M_GCJ02, "--crs", "gcj02", "--json", db=sqlite_url(sample_db)
    )
    found = json.loads(done.stdout)
    assert found["status"] == "nearest"
    assert found["grid"]["code"] == "130303002008006"
    assert 50 < found["distance_m"] < 150


def test_the_route_tolerance_setting_decides_between_nearest_and_outside(
    sample_db: Path,
) -> None:
    args = ("map", "route", *EAST_EDGE_85M_GCJ02, "--crs", "gcj02")
    default = gridsnap(*args, db=sqlite_url(sample_db))
    tight = gridsnap(*args, db=sqlite_url(sample_db), GRIDSNAP_ROUTE_TOLERANCE_M="50")
    assert default.returncode == tight.returncode == 0, default.stderr + tight.stderr
    assert default.stdout.startswith("nearest: 锦绣苑社区第6网格 (130303002008006)")
    assert tight.stdout == "outside: no unit within 50 m\n"


def test_stats_show_counts_per_level_and_the_grids_bounds(sample_db: Path) -> None:
    done = gridsnap("map", "stats", db=sqlite_url(sample_db))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:5] == [
        "map version 1 (gcj02)",
        "  district  4",
        "  street    23",
        "  community 186",
        "  grid      1485",
    ]
    assert "bounds: longitude 119.200000 to 119.800000, latitude 39.800000 to 40.040000" in (
        done.stdout
    )


# -- import: invalid rings, overlaps ---------------------------------------------------------

BOWTIE = [[119.60, 39.90], [119.61, 39.91], [119.61, 39.90], [119.60, 39.91], [119.60, 39.90]]


def test_a_self_intersecting_grid_is_refused_by_name_with_the_database_unchanged(
    sample_db: Path, tmp_path: Path
) -> None:
    path = write_features(
        tmp_path / "bowtie.json", grid_feature("130302006001901", "蝴蝶网格", BOWTIE)
    )
    before = snapshot(sample_db)
    done = gridsnap("map", "import", str(path), db=sqlite_url(sample_db))
    assert_one_line_error(
        done,
        "bowtie.json: 蝴蝶网格 (130302006001901): invalid geometry (Self-intersection[",
        "--repair",
    )
    assert snapshot(sample_db) == before


def test_with_repair_a_self_intersecting_grid_is_repaired_named_and_merged(
    sample_db: Path, tmp_path: Path
) -> None:
    path = write_features(
        tmp_path / "bowtie.json", grid_feature("130302006001901", "蝴蝶网格", BOWTIE)
    )
    before = snapshot(sample_db)
    done = gridsnap("map", "import", str(path), "--repair", db=sqlite_url(sample_db))
    assert done.returncode == 0, done.stderr
    assert (
        "warning: 蝴蝶网格 (130302006001901): invalid geometry repaired "
        "(Self-intersection[119.605 39.905])"
    ) in done.stderr.splitlines()
    assert "map version 2; in force: 4 district, 23 street, 186 community, 1486 grid" in (
        done.stdout
    )
    after = snapshot(sample_db)
    assert before is not None and after is not None
    assert after[:4] == (2, 2, before[2] + 1, before[3] + 1)


def overlap_areas(stderr: str) -> dict[tuple[str, str], float]:
    """(first code, second code) → m², from the overlap warnings."""
    found = re.findall(r"\((\d+)\) and .*?\((\d+)\) overlap by (\d+) m²", stderr)
    return {(a, b): float(area) for a, b, area in found}


def test_overlaps_within_the_file_and_with_stored_grids_are_warned_with_their_area(
    sample_db: Path, tmp_path: Path
) -> None:
    # Both squares lie inside the stored 天洋新城社区第3网格; the small one inside the big one.
    big, small = "130302006001905", "130302006001906"
    path = write_features(
        tmp_path / "overlaps.json",
        grid_feature(big, "大网格", square(119.5905, 39.9738, 0.001)),
        grid_feature(small, "小网格", square(119.5910, 39.9738, 0.0005)),
    )
    done = gridsnap("map", "import", str(path), db=sqlite_url(sample_db))
    assert done.returncode == 0, done.stderr
    assert "in force: 4 district, 23 street, 186 community, 1487 grid" in done.stdout
    areas = overlap_areas(done.stderr)
    assert areas.keys() == {(big, small), (big, TIANYANG_3), (small, TIANYANG_3)}
    # 0.001° × 0.001° at 39.97° N is 85.3 m × 111.0 m; the small square a quarter of that.
    assert areas[(big, TIANYANG_3)] == pytest.approx(9475, abs=2)
    assert areas[(big, small)] == areas[(small, TIANYANG_3)] == pytest.approx(9475 / 4, abs=2)
    assert f"grid 大网格 ({big}) and the stored 天洋新城社区第3网格 ({TIANYANG_3})" in done.stderr


# -- bad input: one line, non-zero exit, database unchanged ---------------------------------


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    flat = [[119.60, 39.90], [119.61, 39.91], [119.62, 39.92], [119.61, 39.91], [119.60, 39.90]]
    not_geojson = tmp_path / "settings.json"
    not_geojson.write_text('{"debug": true}')
    truncated = tmp_path / "truncated.geojson"
    truncated.write_text(SAMPLE_MAP.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    return {
        "missing": (tmp_path / "nowhere.geojson", "nowhere.geojson: no such file"),
        "photo": (PHOTO, "DSCN0010.jpg: cannot be read"),
        "not-geojson": (not_geojson, "settings.json: not GeoJSON"),
        "truncated": (truncated, "truncated.geojson: not JSON"),
        "unrepairable": (
            write_features(
                tmp_path / "flat.json", grid_feature("130302006001902", "往返网格", flat)
            ),
            "往返网格 (130302006001902): invalid geometry",
        ),
        "duplicate": (
            write_features(
                tmp_path / "dup.json",
                grid_feature("130302006001903", "甲", square(119.60, 39.90)),
                grid_feature("130302006001903", "乙", square(119.61, 39.90)),
            ),
            "duplicate code 130302006001903 (甲, 乙)",
        ),
    }


@pytest.mark.parametrize(
    "case",
    ["missing", "photo", "not-geojson", "truncated", "unrepairable", "duplicate"],
)
def test_a_bad_file_is_refused_in_one_line_with_the_database_unchanged(
    sample_db: Path, tmp_path: Path, case: str
) -> None:
    path, problem = bad_files(tmp_path)[case]
    before = snapshot(sample_db)
    done = gridsnap("map", "import", str(path), db=sqlite_url(sample_db))
    assert_one_line_error(done, problem)
    assert snapshot(sample_db) == before


def test_a_missing_file_does_not_even_create_the_database(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    done = gridsnap("map", "import", str(tmp_path / "nowhere.json"), db=sqlite_url(db))
    assert_one_line_error(done, "no such file")
    assert not db.exists()


def test_replacing_the_map_with_one_real_district_leaves_a_map_routing_to_that_district(
    sample_db: Path,
) -> None:
    real = BOUNDARIES / "district_130302.json"
    done = gridsnap("map", "import", str(real), "--replace", db=sqlite_url(sample_db))
    assert done.returncode == 0, done.stderr
    assert "map version 2; in force: 1 district" in done.stdout
    routed = json.loads(
        gridsnap("map", "route", *TIANYANG_3_WGS84, "--json", db=sqlite_url(sample_db)).stdout
    )
    assert routed["unit"] == {"level": "district", "code": "130302", "name": "海港区"}
    assert routed["grid"] is None


def test_a_grid_whose_community_is_nowhere_goes_under_the_stored_unit_containing_it(
    sample_db: Path, tmp_path: Path
) -> None:
    orphan = grid_feature("130302099001001", "孤儿网格", square(119.5905, 39.9738, 0.001))
    orphan["properties"] = {"code": "130302099001001", "name": "孤儿网格", "parent": "130302099001"}
    path = write_features(tmp_path / "orphan.json", orphan)
    done = gridsnap("map", "import", str(path), db=sqlite_url(sample_db))
    assert done.returncode == 0, done.stderr
    assert (
        "parent 130302099001 of 1 grid unit(s) is not in the map; they are placed under "
        "天洋新城社区 (130302006001), which contains them"
    ) in done.stderr


def test_a_file_in_another_crs_than_the_stored_map_is_refused(
    sample_db: Path, tmp_path: Path
) -> None:
    path = write_features(
        tmp_path / "wgs.json", grid_feature("130302006001904", "丁", square(119.6, 39.9))
    )
    before = snapshot(sample_db)
    done = gridsnap("map", "import", str(path), "--crs", "wgs84", db=sqlite_url(sample_db))
    assert_one_line_error(done, "mix coordinate systems (gcj02, wgs84)")
    assert snapshot(sample_db) == before


@pytest.mark.parametrize(
    ("args", "parameter"),
    [
        (("route", "91", "119.6"), "lat"),
        (("route", "39.9", "181"), "lon"),
        (("route", "north", "119.6"), "lat"),
        (("route", "39.9", "119.6", "--crs", "utm"), "--crs"),
        (("import", str(SAMPLE_MAP), "--crs", "epsg4326"), "--crs"),
        (("import", str(SAMPLE_MAP), "--level", "province"), "--level"),
    ],
    ids=["latitude-91", "longitude-181", "text-latitude", "route-crs", "import-crs", "level"],
)
def test_a_bad_argument_names_the_parameter_and_changes_nothing(
    sample_db: Path, args: tuple[str, ...], parameter: str
) -> None:
    before = snapshot(sample_db)
    assert_usage_error(gridsnap("map", *args, db=sqlite_url(sample_db)), parameter)
    assert snapshot(sample_db) == before


def test_a_bad_setting_names_the_variable(sample_db: Path) -> None:
    done = gridsnap("map", "stats", db=sqlite_url(sample_db), GRIDSNAP_ROUTE_TOLERANCE_M="-5")
    assert_one_line_error(done, "GRIDSNAP_ROUTE_TOLERANCE_M")


def test_an_unreachable_database_is_one_line_not_a_traceback() -> None:
    done = gridsnap("map", "stats", db="postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    assert_one_line_error(done, "database error", code=1)
