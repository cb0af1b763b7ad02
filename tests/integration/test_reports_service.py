"""Report use cases on real SQLite and PostgreSQL: submit, duplicates, follow, cancel.

Every test runs once per backend through the ``make_uow`` fixture, with the real storage,
a real ``GridMap`` built from what the database holds, and the shipped category catalogue.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain.categories import Catalogue, load_catalogue
from bot.domain.lifecycle import replay
from bot.domain.model import Account, GeoPoint, Level, MapUnit, Report, ReportPhoto, ReportStatus
from bot.geo.router import GridMap
from bot.services.reports import (
    OutsideServiceArea,
    find_duplicates,
    follow,
    submit_report,
)
from tests.storage_contract import MakeUow, seed_account

NOW = datetime(2026, 11, 20, 16, 30, tzinfo=UTC)  # 00:30 on the 21st in Qinhuangdao
SHANGHAI = ZoneInfo("Asia/Shanghai")
HERE = GeoPoint(lat=39.925, lon=119.52)  # WGS-84, inside grid G1
M = 1 / 111_000  # about one metre of latitude
ABROAD = GeoPoint(lat=41.9, lon=12.5)
SCENE = "ffff0000ffff0000"
SCENE_RESENT = "ffff0000ffff0003"  # two bits off: the same picture recompressed
OTHER_SCENE = "0000ffff0000ffff"


def _square(x0: float, size: float) -> dict[str, Any]:
    ring = [[x0, 39.90], [x0 + size, 39.90], [x0 + size, 39.95], [x0, 39.95], [x0, 39.90]]
    return {"type": "Polygon", "coordinates": [ring]}


def _unit(code: str, name: str, level: Level, parent: str | None, x0: float, size: float):
    return MapUnit(
        code=code, name=name, level=level, parent_code=parent, geometry=_square(x0, size)
    )


MAP = [
    _unit("S1", "西港路街道", Level.STREET, None, 119.50, 0.10),
    _unit("C1", "东环社区", Level.COMMUNITY, "S1", 119.50, 0.05),
    _unit("G1", "东环一网格", Level.GRID, "C1", 119.50, 0.05),
    _unit("G2", "西环一网格", Level.GRID, "C1", 119.55, 0.05),
]


@pytest.fixture
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
async def gridmap(make_uow: MakeUow) -> GridMap:
    async with make_uow() as uow:
        await uow.regions.replace_map(MAP, replace=True)
        await uow.commit()
    async with make_uow() as uow:
        version, units = await uow.regions.load_units()
    return GridMap(units, version=version)


@pytest.fixture
async def rider(make_uow: MakeUow) -> Account:
    return await seed_account(make_uow, "r1")


def photo(phash: str) -> ReportPhoto:
    return ReportPhoto(sha256=phash * 4, phash=phash, width=320, height=240)


async def submit(
    make_uow: MakeUow,
    gridmap: GridMap,
    reporter: Account,
    *,
    where: GeoPoint = HERE,
    category: str = "0102",
    phash: str = SCENE,
    at: datetime = NOW,
) -> Report:
    async with make_uow() as uow:
        report = await submit_report(
            uow,
            reporter=reporter.id,
            category_code=category,
            location=where,
            photos=[photo(phash)],
            note=" 东门口 ",
            now=at,
            catalogue=load_catalogue(),
            gridmap=gridmap,
            zone=SHANGHAI,
        )
        await uow.commit()
    return report


async def duplicates_of(
    make_uow: MakeUow, *, where: GeoPoint = HERE, category: str = "0102", phash: str = OTHER_SCENE
) -> list[int]:
    async with make_uow() as uow:
        found = await find_duplicates(
            uow,
            category_code=category,
            location=where,
            phash=phash,
            now=NOW + timedelta(hours=1),
            radius_m=50,
            window_h=72,
        )
    return [r.id for r in found]


async def test_a_submitted_report_is_routed_dispatched_and_audited(
    make_uow, gridmap, rider, catalogue
):
    report = await submit(make_uow, gridmap, rider)
    garbage = catalogue.get("0102")
    async with make_uow() as uow:
        stored = await uow.reports.get(report.id)
        grid = await uow.regions.get("G1")
        history = await uow.audit.history(report.id)
    assert stored is not None and grid is not None
    assert stored.status is ReportStatus.DISPATCHED and stored.grid_id == grid.id
    assert stored.ack_due_at == NOW + timedelta(minutes=garbage.ack_minutes)
    assert stored.resolve_due_at == NOW + timedelta(minutes=garbage.resolve_minutes)
    assert stored.note == "东门口" and [p.phash for p in stored.photos] == [SCENE]
    assert [e.action for e in history] == ["submit", "dispatch"]
    assert history[0].data["grid"] == "G1" and history[0].actor_id == rider.id
    assert replay(history) is ReportStatus.DISPATCHED


async def test_the_report_number_carries_the_citys_calendar_day(make_uow, gridmap, rider):
    report = await submit(make_uow, gridmap, rider)
    assert report.number == "261121-0001"


async def test_a_point_outside_every_grid_is_refused_and_nothing_is_stored(
    make_uow, gridmap, rider
):
    with pytest.raises(OutsideServiceArea):
        await submit(make_uow, gridmap, rider, where=ABROAD)
    async with make_uow() as uow:
        assert await uow.reports.for_reporter(rider.id) == []


async def test_the_same_category_close_by_is_a_duplicate(make_uow, gridmap, rider):
    first = await submit(make_uow, gridmap, rider)
    assert await duplicates_of(make_uow, where=GeoPoint(lat=HERE.lat + 30 * M, lon=HERE.lon)) == [
        first.id
    ]


async def test_another_category_or_a_farther_point_is_not_a_duplicate(make_uow, gridmap, rider):
    await submit(make_uow, gridmap, rider)
    assert await duplicates_of(make_uow, category="0403") == []
    assert await duplicates_of(make_uow, where=GeoPoint(lat=HERE.lat + 80 * M, lon=HERE.lon)) == []


async def test_a_report_older_than_the_window_is_not_a_duplicate(make_uow, gridmap, rider):
    await submit(make_uow, gridmap, rider, at=NOW - timedelta(hours=80))
    assert await duplicates_of(make_uow) == []


@pytest.mark.parametrize("phash", [SCENE, SCENE_RESENT])
async def test_the_same_photo_is_a_duplicate_whatever_the_category(make_uow, gridmap, rider, phash):
    first = await submit(make_uow, gridmap, rider, category="0403")
    assert await duplicates_of(make_uow, category="0102", phash=phash) == [first.id]


async def test_following_subscribes_once_and_files_nothing(make_uow, gridmap, rider):
    first = await submit(make_uow, gridmap, rider)
    other = await seed_account(make_uow, "r2")
    for _ in range(2):
        async with make_uow() as uow:
            await follow(uow, first.id, other.id)
            await uow.commit()
    async with make_uow() as uow:
        assert [a.id for a in await uow.reports.subscribers(first.id)] == [other.id]
        assert await uow.reports.for_reporter(other.id) == []
