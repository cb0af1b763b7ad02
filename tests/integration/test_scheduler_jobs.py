"""The real scheduler ``bot/scheduler.py`` builds: its jobs and their triggers, and the
digest a process started after 08:30 catches up on. The clock is the test's; no sleeps.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.app import bootstrap
from bot.chat import Outgoing
from bot.config import load_settings
from bot.domain.categories import load_catalogue
from bot.domain.model import GeoPoint, Level, MapUnit, ReportStatus, RoleName
from bot.scheduler import JobScheduler
from bot.services.env import Env, MapHolder
from bot.services.escalation import DIGEST_PLATFORM
from bot.services.ports import BaseUnitOfWork

MakeUow = Callable[[], BaseUnitOfWork]
SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")  # not the default zone, so the configured one must count
DAY = datetime(2026, 11, 26, tzinfo=SHANGHAI)


def _at(hour: int, minute: int, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(2026, 11, 26, hour, minute, tzinfo=zone)


def _square(x0: float, size: float) -> dict[str, object]:
    ring = [[x0, 39.90], [x0 + size, 39.90], [x0 + size, 39.90 + size], [x0, 39.90 + size]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


GRID = MapUnit(code="G1", name="东环一网格", level=Level.GRID, parent_code=None,
               geometry=_square(119.5, 0.05))  # fmt: skip


class NoPhotos:
    def put(self, data: bytes, ext: str, *, thumbnail: bytes | None = None) -> str:
        raise AssertionError("the digest stores no photos")

    def get(self, key: str) -> bytes:
        raise KeyError(key)


def _env(now: datetime, zone: ZoneInfo = SHANGHAI) -> Env:
    return Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=300),
        photos=NoPhotos(),
        zone=zone,
        clock=lambda: now,
    )


def _no_database() -> BaseUnitOfWork:
    raise AssertionError("building and starting the scheduler reads no database")


async def test_the_sweep_runs_every_minute_and_the_digest_daily_at_0830_local() -> None:
    jobs = JobScheduler(uow_factory=_no_database, env=_env(_at(9, 0, BERLIN), BERLIN))
    jobs.start()
    try:
        sweep, digest = jobs.scheduler.get_job("sweep"), jobs.scheduler.get_job("digest")
    finally:
        jobs.shutdown()
    assert isinstance(sweep.trigger, IntervalTrigger)
    assert sweep.trigger.interval == timedelta(minutes=1)
    assert isinstance(digest.trigger, CronTrigger)
    fire = digest.trigger.get_next_fire_time
    assert fire(None, _at(8, 0, BERLIN)) == _at(8, 30, BERLIN)
    assert fire(None, _at(8, 31, BERLIN)) == _at(8, 30, BERLIN) + timedelta(days=1)
    assert fire(None, _at(8, 0, SHANGHAI)) == _at(8, 30, BERLIN)  # 01:00 in Berlin
    # Once each: a slow run or a suspended laptop never piles up runs of either.
    assert (sweep.coalesce, sweep.max_instances) == (digest.coalesce, digest.max_instances)
    assert (sweep.coalesce, sweep.max_instances) == (True, 1)


async def _world(make_uow: MakeUow) -> None:
    """A grid with one worker and one case waiting to be accepted since yesterday."""
    async with make_uow() as uow:
        await uow.regions.replace_map([GRID], replace=True)
        grid = await uow.regions.get("G1")
        worker = await uow.accounts.get_or_create(
            platform="telegram", platform_user_id="w", chat_id="w", display_name="w", locale="en"
        )
        assert grid is not None
        await uow.roles.grant(worker.id, RoleName.GRID_WORKER, grid.id)
        await uow.reports.add(
            reporter_id=worker.id,
            category_code="0102",
            location=GeoPoint(lat=39.92, lon=119.52),
            grid_id=grid.id,
            note="",
            status=ReportStatus.DISPATCHED,
            created_at=DAY - timedelta(hours=12),
            ack_due_at=DAY - timedelta(hours=11),
            resolve_due_at=DAY - timedelta(hours=8),
        )
        await uow.commit()


async def _start(make_uow: MakeUow, now: datetime) -> None:
    """One process start at ``now``: build the scheduler, start it, catch up, stop."""
    jobs = JobScheduler(uow_factory=make_uow, env=_env(now))
    jobs.start()
    try:
        await jobs.catch_up()
    finally:
        jobs.shutdown()


async def _sent(make_uow: MakeUow) -> list[Outgoing]:
    async with make_uow() as uow:
        rows = await uow.outbox.claim(100, DAY + timedelta(days=30), per_chat=100)
        for row in rows:
            await uow.outbox.mark_sent(row.id, None)
        await uow.commit()
    return [row.message for row in rows]


async def test_a_start_after_the_digest_time_sends_todays_digest_once(make_uow: MakeUow) -> None:
    await _world(make_uow)
    await _start(make_uow, _at(9, 10))
    [digest] = await _sent(make_uow)
    assert digest.chat_id == "w" and "Open cases in your grids: 1, overdue: 1." in digest.text
    await _start(make_uow, _at(9, 12))  # a restart the same morning
    await _start(make_uow, _at(23, 59))
    assert await _sent(make_uow) == []


@pytest.mark.parametrize(("hour", "minute"), [(12, 0), (12, 30), (23, 59)])
async def test_a_start_from_noon_on_sends_no_good_morning_digest(
    make_uow: MakeUow, hour: int, minute: int
) -> None:
    await _world(make_uow)
    await _start(make_uow, _at(hour, minute))
    assert await _sent(make_uow) == []


async def test_a_start_just_before_noon_still_catches_up(make_uow: MakeUow) -> None:
    await _world(make_uow)
    await _start(make_uow, _at(11, 59))
    assert [m.chat_id for m in await _sent(make_uow)] == ["w"]


async def test_a_start_before_the_digest_time_leaves_it_to_the_job(make_uow: MakeUow) -> None:
    await _world(make_uow)
    await _start(make_uow, _at(8, 10))
    assert await _sent(make_uow) == []
    jobs = JobScheduler(uow_factory=make_uow, env=_env(_at(8, 30)))
    await jobs.run_digest()  # what the 08:30 job runs
    assert [m.chat_id for m in await _sent(make_uow)] == ["w"]


@pytest.mark.parametrize(("hour", "caught_up"), [(9, True), (8, False)])
async def test_starting_the_app_catches_up_on_the_days_digest(
    database_url: str, tmp_path: Path, hour: int, caught_up: bool
) -> None:
    settings = load_settings(database_url=database_url, photo_dir=tmp_path / "photos")
    app = await bootstrap(settings, sample_map=None)
    app.env.clock = lambda: _at(hour, 10)
    try:
        await app.start_background()
        async with app.uow_factory() as uow:
            marked = await uow.updates.seen(DIGEST_PLATFORM, DAY.date().isoformat())
    finally:
        await app.close()
    assert marked is caught_up
