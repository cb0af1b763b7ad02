"""Real boundary files, one level at a time: Qinhuangdao's district file (DataV, GCJ-02, a
bare list of Features naming the city 130300 as parent) imported alone with the installed
``gridsnap map import``, then a community and its grids inside 海港区, each from its own file.
A phone's WGS-84 point goes to the finest unit the map has there, and a report filed there
alerts that unit's staff — on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain.categories import load_catalogue
from bot.domain.model import Account, GeoPoint, Report, RoleName
from bot.geo.crs import gcj02_to_wgs84
from bot.services import escalation
from bot.services.alerts import alert_new_report
from bot.services.env import Env, MapHolder
from bot.services.ports import BaseUnitOfWork
from bot.services.reports import submit_report
from storage.database import create_engine, create_session_factory
from storage.photos import PhotoStore
from storage.uow import SqlUnitOfWork
from tests.cli_kit import run_gridsnap


def _realworld() -> Path:
    """../shared/data/realworld from the repository, wherever its checkout sits."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "shared" / "data" / "realworld").is_dir():
            return parent / "shared" / "data" / "realworld"
    return here.parents[3] / "shared" / "data" / "realworld"


DISTRICTS = _realworld() / "boundaries" / "qinhuangdao_130300_districts.json"
HAIGANG, SHANHAIGUAN = "130302", "130303"
COMMUNITY, GRID_1, GRID_2 = "130302006001", "130302006001001", "130302006001002"
# 海港区's seat as DataV gives it (GCJ-02), and where a phone standing there reports it.
SEAT_GCJ02 = (39.943458, 119.596224)
SEAT_WGS84 = tuple(f"{v:.6f}" for v in gcj02_to_wgs84(*SEAT_GCJ02))
# In 海港区, ~4 km north-west of the seat, beyond the pilot community.
HAIGANG_ELSEWHERE_WGS84 = tuple(f"{v:.6f}" for v in gcj02_to_wgs84(39.975, 119.560))
# In 山海关区 on the GCJ-02 map, ~600 m from 海港区; the phone's WGS-84 numbers for it, read
# as GCJ-02 without converting, fall in 海港区.
BORDER_WGS84 = tuple(f"{v:.6f}" for v in gcj02_to_wgs84(39.977561, 119.694578))
NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
FIXABLE = "0301"  # a category without a required after-photo


def gridsnap(*args: str, db: str) -> Any:
    return run_gridsnap(*args, url=db)


def route(db: str, point: tuple[str, ...], *extra: str) -> dict[str, Any]:
    done = gridsnap("map", "route", *point, "--json", *extra, db=db)
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(code: str, name: str, parent: str, level: str, geometry: dict[str, Any]) -> Any:
    props = {"code": code, "name": name, "parent": parent, "level": level}
    return {"type": "Feature", "properties": props, "geometry": geometry}


def community_file(tmp_path: Path) -> Path:
    """A pilot community around 海港区's seat (its west edge ~100 m from it), ~850 m × 1 km,
    drawn in GCJ-02 like the district file. It names its street (130302006), which nobody
    has digitised."""
    path = tmp_path / "community.geojson"
    pilot = feature(
        COMMUNITY, "试点社区", "130302006", "community", box(119.595, 39.939, 119.605, 39.948)
    )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [pilot]}))
    return path


def grid_file(tmp_path: Path) -> Path:
    path = tmp_path / "grids.geojson"
    grids = [
        feature(
            GRID_1, "试点社区第1网格", COMMUNITY, "grid", box(119.595, 39.939, 119.600, 39.948)
        ),
        feature(
            GRID_2, "试点社区第2网格", COMMUNITY, "grid", box(119.600, 39.939, 119.605, 39.948)
        ),
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": grids}))
    return path


def import_ok(db: str, path: Path) -> Any:
    done = gridsnap("map", "import", str(path), db=db)
    assert done.returncode == 0, done.stderr
    return done


def unit(level: str, code: str, name: str) -> dict[str, str]:
    return {"level": level, "code": code, "name": name}


# -- one level at a time through the real command ---------------------------------------------


def test_the_real_district_file_imports_alone_and_routes_a_phone_point_to_its_district(
    database_url: str,
) -> None:
    done = import_ok(database_url, DISTRICTS)
    assert "imported 7 units: 7 district" in done.stdout
    assert "in force: 7 district" in done.stdout
    assert "parent 130300 of 7 district unit(s) is not in the map; they are imported as " in (
        done.stderr
    )

    found = route(database_url, SEAT_WGS84)
    assert found["status"] == "inside"
    assert found["unit"] == unit("district", HAIGANG, "海港区")
    assert found["grid"] is None
    assert found["path"] == [unit("district", HAIGANG, "海港区")]

    text = gridsnap("map", "route", *SEAT_WGS84, db=database_url)
    assert text.stdout.startswith("inside: 海港区 (130302)\n")
    stats = gridsnap("map", "stats", db=database_url)
    assert "district  7" in stats.stdout and "bounds: longitude 118." in stats.stdout


def test_a_phone_point_near_a_real_district_border_is_converted_to_gcj02_first(
    database_url: str,
) -> None:
    import_ok(database_url, DISTRICTS)
    assert route(database_url, BORDER_WGS84)["unit"]["code"] == SHANHAIGUAN
    # The same numbers taken for GCJ-02, as a router skipping the conversion would.
    assert route(database_url, BORDER_WGS84, "--crs", "gcj02")["unit"]["code"] == HAIGANG


def test_a_community_then_its_grids_each_imported_alone_take_over_their_part_of_the_district(
    database_url: str, tmp_path: Path
) -> None:
    import_ok(database_url, DISTRICTS)

    done = import_ok(database_url, community_file(tmp_path))
    assert "in force: 7 district, 1 community" in done.stdout
    assert (
        "parent 130302006 of 1 community unit(s) is not in the map; they are placed under "
        "海港区 (130302), which contains them"
    ) in done.stderr
    found = route(database_url, SEAT_WGS84)
    assert found["unit"] == unit("community", COMMUNITY, "试点社区")
    assert found["grid"] is None
    assert [step["code"] for step in found["path"]] == [COMMUNITY, HAIGANG]
    # The raw WGS-84 numbers lie ~500 m west of the seat on the map, ~390 m beyond the
    # community: beyond the tolerance, so in the district.
    raw = route(database_url, SEAT_WGS84, "--crs", "gcj02")
    assert (raw["status"], raw["unit"]["code"]) == ("inside", HAIGANG)
    assert route(database_url, HAIGANG_ELSEWHERE_WGS84)["unit"]["code"] == HAIGANG

    done = import_ok(database_url, grid_file(tmp_path))
    assert "in force: 7 district, 1 community, 2 grid" in done.stdout
    assert "warning" not in done.stderr
    found = route(database_url, SEAT_WGS84)
    assert found["status"] == "inside"
    assert found["unit"] == unit("grid", GRID_1, "试点社区第1网格")
    assert found["grid"] == {"code": GRID_1, "name": "试点社区第1网格"}
    assert [step["code"] for step in found["path"]] == [GRID_1, COMMUNITY, HAIGANG]
    assert route(database_url, HAIGANG_ELSEWHERE_WGS84)["unit"]["code"] == HAIGANG


# -- a report there reaches that unit's staff ---------------------------------------------------


class City:
    """The imported map opened with the real storage, as ``gridsnap run`` would."""

    def __init__(self, make_uow: Callable[[], BaseUnitOfWork], env: Env) -> None:
        self.make_uow = make_uow
        self.env = env

    async def refresh(self) -> None:
        async with self.make_uow() as uow:
            await self.env.maps.refresh(uow)

    async def person(self, name: str, role: RoleName | None = None, region: str = "") -> Account:
        async with self.make_uow() as uow:
            account = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id=name,
                chat_id=f"chat-{name}",
                display_name=name,
                locale="en",
            )
            if role is not None:
                node = await uow.regions.get(region)
                assert node is not None, region
                await uow.roles.grant(account.id, role, node.id)
            await uow.commit()
        return account

    async def report(self, rider: Account, point: tuple[str, ...]) -> tuple[Report, str]:
        """Files and alerts a report at a WGS-84 point; returns it and its unit's code."""
        async with self.make_uow() as uow:
            report = await submit_report(
                uow,
                reporter=rider.id,
                category_code=FIXABLE,
                location=GeoPoint(lat=float(point[0]), lon=float(point[1])),
                photos=[],
                note="",
                now=NOW,
                catalogue=self.env.catalogue,
                gridmap=self.env.maps.current(),
                zone=self.env.zone,
            )
            await alert_new_report(uow, self.env, report)
            assert report.grid_id is not None
            node = await uow.regions.get_by_id(report.grid_id)
            await uow.commit()
        assert node is not None
        return report, node.code

    async def sent(self, at: datetime) -> dict[str, list[str]]:
        """Texts queued per chat, taking them off the outbox."""
        found: dict[str, list[str]] = {}
        async with self.make_uow() as uow:
            for row in await uow.outbox.claim(1000, at, per_chat=1000):
                found.setdefault(row.message.chat_id, []).append(row.message.text or "")
            await uow.commit()
        return found


@pytest.fixture
async def city(database_url: str, tmp_path: Path) -> AsyncIterator[City]:
    import_ok(database_url, DISTRICTS)
    import_ok(database_url, community_file(tmp_path))
    engine = create_engine(database_url)
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300),
        photos=PhotoStore(tmp_path / "photos"),
        zone=ZoneInfo("Asia/Shanghai"),
        clock=lambda: NOW,
    )
    factory = create_session_factory(engine)
    made = City(lambda: SqlUnitOfWork(session_factory=factory), env)
    await made.refresh()
    try:
        yield made
    finally:
        await engine.dispose()


async def test_a_report_in_the_community_alerts_its_staff_and_one_beyond_it_the_districts(
    city: City,
) -> None:
    rider = await city.person("rider")
    district_worker = await city.person("district-worker", RoleName.GRID_WORKER, HAIGANG)
    community_worker = await city.person("community-worker", RoleName.GRID_WORKER, COMMUNITY)

    _, where = await city.report(rider, SEAT_WGS84)
    assert where == COMMUNITY
    alerted = await city.sent(NOW)
    assert community_worker.chat_id in alerted
    assert any(text.startswith("New report") for text in alerted[community_worker.chat_id])
    assert district_worker.chat_id not in alerted  # the district's staff are the fallback

    _, where = await city.report(rider, HAIGANG_ELSEWHERE_WGS84)
    assert where == HAIGANG
    alerted = await city.sent(NOW)
    assert set(alerted) == {district_worker.chat_id}


async def test_with_nobody_on_the_community_its_case_goes_up_to_the_district_admins(
    city: City,
) -> None:
    rider = await city.person("rider")
    admin = await city.person("district-admin", RoleName.COMMUNITY_ADMIN, HAIGANG)
    street = await city.person("street-admin", RoleName.STREET_ADMIN, HAIGANG)

    report, where = await city.report(rider, SEAT_WGS84)
    assert where == COMMUNITY
    # No grid worker or leader anywhere: the admin of the district above hears of it.
    assert set(await city.sent(NOW)) == {admin.chat_id}

    # Unaccepted past its deadline and the escalation delay, and unresolved past its
    # deadline: the escalations reach the district's admins too.
    assert report.resolve_due_at is not None
    later = report.resolve_due_at + timedelta(hours=1)
    await escalation.sweep(city.make_uow, city.env, later)
    escalated = await city.sent(later)
    assert any("nobody accepted" in text for text in escalated[admin.chat_id])
    assert any("was not resolved" in text for text in escalated[street.chat_id])
