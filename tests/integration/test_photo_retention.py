"""Photo retention on real SQLite and PostgreSQL with a real photo store: the hourly sweep
deletes a stored photo older than GRIDSNAP_PHOTO_ORPHAN_DAYS that nothing refers to, and
keeps every photo a report, a draft or an unsent message still needs.

The clock is the env's; file ages are set with ``os.utime`` relative to it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import bootstrap
from bot.chat import Outgoing, OutKind
from bot.config import ConfigError, load_settings
from bot.domain.categories import load_catalogue
from bot.domain.model import ConversationState, ReportPhoto
from bot.scheduler import JobScheduler
from bot.services.env import Env, MapHolder
from bot.services.ports import BaseUnitOfWork
from bot.services.retention import sweep_orphan_photos
from storage.photos import PhotoStore
from tests.storage_contract import seed_account, seed_report

MakeUow = Callable[[], BaseUnitOfWork]
NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
OLD = timedelta(days=8)  # past the default seven days
YOUNG = timedelta(days=6)


@pytest.fixture
def store(tmp_path: Path) -> PhotoStore:
    return PhotoStore(tmp_path / "photos")


@pytest.fixture
def env(store: PhotoStore) -> Env:
    return Env(
        catalogue=load_catalogue(), maps=MapHolder(tolerance_m=300), photos=store, clock=lambda: NOW
    )


def stored(store: PhotoStore, name: str, age: timedelta) -> str:
    """Store a photo whose file was last written ``age`` before NOW."""
    key = store.put(f"photo {name}".encode(), "jpg")
    when = (NOW - age).timestamp()
    os.utime(store.path(key), (when, when))
    return key


def photo_to(chat: str, key: str) -> Outgoing:
    return Outgoing(platform="telegram", chat_id=chat, kind=OutKind.PHOTO, photo=key, text="图")


def before(key: str) -> ReportPhoto:
    return ReportPhoto(sha256=key, phash="00ff00ff00ff00ff", width=4, height=3)


async def test_an_old_orphan_goes_and_every_photo_still_needed_stays(
    make_uow: MakeUow, store: PhotoStore, env: Env
) -> None:
    orphan = stored(store, "refused rider's upload", OLD)
    young_orphan = stored(store, "uploaded yesterday", YOUNG)
    in_report = stored(store, "a report's before photo", OLD)
    after = stored(store, "a report's after photo", OLD)
    in_draft = stored(store, "a draft not yet submitted", OLD)
    queued = stored(store, "an alert map not yet sent", OLD)
    delivered = stored(store, "an alert map already sent", OLD)
    rider = await seed_account(make_uow)
    report = await seed_report(make_uow, rider, photos=(before(in_report),))
    async with make_uow() as uow:
        await uow.reports.add_photo(report.id, replace(before(after), kind="after"))
        draft = {"photos": [{"key": in_draft, "phash": "00ff00ff00ff00ff", "w": 4, "h": 3}]}
        state = ConversationState(flow="report", step="cat", data=draft)
        await uow.conversations.save("telegram", "rider", state, at=NOW)
        await uow.outbox.add(photo_to("worker", queued))
        await uow.outbox.mark_sent(await uow.outbox.add(photo_to("worker", delivered)), "m1")
        await uow.commit()

    deleted = await JobScheduler(
        uow_factory=make_uow, env=env, photo_store=store
    ).run_photo_retention()

    assert deleted == 2
    assert orphan not in store and delivered not in store
    for kept in (young_orphan, in_report, after, in_draft, queued):
        assert kept in store


async def test_a_draft_photo_is_swept_once_the_draft_is_cancelled(
    make_uow: MakeUow, store: PhotoStore, env: Env
) -> None:
    key = stored(store, "draft photo", OLD)
    state = ConversationState(flow="report", step="note", data={"photos": [{"key": key}]})
    async with make_uow() as uow:
        await uow.conversations.save("telegram", "rider", state, at=NOW)
        await uow.commit()
    sweeper = JobScheduler(uow_factory=make_uow, env=env, photo_store=store)
    assert await sweeper.run_photo_retention() == 0
    async with make_uow() as uow:
        state.clear()  # what /cancel leaves behind
        await uow.conversations.save("telegram", "rider", state, at=NOW)
        await uow.commit()
    assert await sweeper.run_photo_retention() == 1
    assert key not in store


async def test_orphans_are_asked_about_in_batches_and_all_found(
    make_uow: MakeUow, store: PhotoStore
) -> None:
    keys = [stored(store, f"orphan {n}", OLD) for n in range(5)]
    rider = await seed_account(make_uow)
    await seed_report(make_uow, rider, photos=(before(keys[3]),))
    deleted = await sweep_orphan_photos(
        make_uow, store, cutoff=NOW - OLD + timedelta(hours=1), batch=2
    )
    assert deleted == 4
    assert [key in store for key in keys] == [False, False, False, True, False]


async def test_a_shorter_retention_age_sweeps_younger_orphans(
    make_uow: MakeUow, store: PhotoStore, env: Env
) -> None:
    env.photo_orphan_age = timedelta(days=2)
    three_days = stored(store, "three days old", timedelta(days=3))
    one_day = stored(store, "one day old", timedelta(days=1))
    await JobScheduler(uow_factory=make_uow, env=env, photo_store=store).run_photo_retention()
    assert three_days not in store and one_day in store


async def test_the_composition_root_wires_the_setting_and_the_store(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gridsnap.db'}",
        photo_dir=tmp_path / "photos",
        photo_orphan_days=2.5,
    )
    app = await bootstrap(settings, sample_map=None)
    try:
        assert app.env.photo_orphan_age == timedelta(days=2, hours=12)
        assert app.photo_store is app.env.photos
    finally:
        await app.close()


def test_the_retention_age_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="GRIDSNAP_PHOTO_ORPHAN_DAYS"):
        load_settings(photo_orphan_days=0)


async def test_without_a_photo_store_the_sweep_deletes_nothing(make_uow: MakeUow, env: Env) -> None:
    assert await JobScheduler(uow_factory=make_uow, env=env).run_photo_retention() == 0


async def test_the_photo_sweep_is_scheduled_beside_housekeeping(
    make_uow: MakeUow, store: PhotoStore, env: Env
) -> None:
    scheduler = JobScheduler(uow_factory=make_uow, env=env, photo_store=store)
    scheduler.start()
    try:
        assert {"housekeeping", "photo_retention"} <= set(scheduler.jobs())
    finally:
        scheduler.shutdown()
