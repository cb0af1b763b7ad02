"""Abandoned drafts expire, on real SQLite and PostgreSQL with a controlled clock: a state
with a flow last saved more than GRIDSNAP_DRAFT_HOURS ago is cleared, its user told once in
their language, and the photos it held are then swept as orphans."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import bootstrap
from bot.config import ConfigError, load_settings
from bot.domain.categories import load_catalogue
from bot.domain.model import ConversationState
from bot.scheduler import JobScheduler
from bot.services.env import Env, MapHolder
from bot.services.ports import BaseUnitOfWork
from storage.photos import PhotoStore

MakeUow = Callable[[], BaseUnitOfWork]
NOW = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=25)  # past the default 24 hours
FRESH = NOW - timedelta(hours=23)
ZH_REPORT = "您未完成的上报已在 24 小时后作废，其位置和照片不再保留。发送照片即可重新开始。"
EN_RESOLVE = (
    "Your unfinished resolve note was discarded after 24 hours. "
    "The case is unchanged; press Resolve on it again to finish."
)


@pytest.fixture
def store(tmp_path: Path) -> PhotoStore:
    return PhotoStore(tmp_path / "photos")


@pytest.fixture
def env(store: PhotoStore) -> Env:
    return Env(
        catalogue=load_catalogue(), maps=MapHolder(tolerance_m=300), photos=store, clock=lambda: NOW
    )


async def person(make_uow: MakeUow, user_id: str, locale: str) -> None:
    async with make_uow() as uow:
        await uow.accounts.get_or_create(
            platform="telegram",
            platform_user_id=user_id,
            chat_id=f"chat-{user_id}",
            display_name=user_id,
            locale=locale,
        )
        await uow.commit()


async def save(make_uow: MakeUow, user_id: str, state: ConversationState, at: datetime) -> None:
    async with make_uow() as uow:
        await uow.conversations.save("telegram", user_id, state, at=at)
        await uow.commit()


async def load(make_uow: MakeUow, user_id: str) -> ConversationState:
    async with make_uow() as uow:
        return await uow.conversations.load("telegram", user_id)


async def told(make_uow: MakeUow) -> list[tuple[str, str]]:
    async with make_uow() as uow:
        rows = await uow.outbox.claim(100, NOW, per_chat=10)
        await uow.commit()
    return [(row.message.chat_id, row.message.text) for row in rows]


def draft(photo: str = "k") -> ConversationState:
    point = {"lat": 39.9354, "lon": 119.6005}
    return ConversationState(flow="rep", step="cat", data={"loc": point, "photos": [photo]})


async def test_an_old_report_draft_is_cleared_and_its_rider_told_in_their_language(
    make_uow: MakeUow, env: Env
) -> None:
    await person(make_uow, "rider", "zh_CN")
    await person(make_uow, "worker", "en")
    await save(make_uow, "rider", draft(), OLD)
    await save(make_uow, "worker", ConversationState(flow="wres", step="note"), OLD)

    assert await JobScheduler(uow_factory=make_uow, env=env).run_draft_expiry() == 2

    assert await load(make_uow, "rider") == ConversationState()
    assert await load(make_uow, "worker") == ConversationState()
    assert sorted(await told(make_uow)) == [("chat-rider", ZH_REPORT), ("chat-worker", EN_RESOLVE)]


async def test_a_fresh_draft_and_a_state_without_a_flow_are_left_alone(
    make_uow: MakeUow, env: Env
) -> None:
    await person(make_uow, "fresh", "en")
    await person(make_uow, "idle", "en")
    idle = ConversationState(data={"seen_help": True})
    await save(make_uow, "fresh", draft(), FRESH)
    await save(make_uow, "idle", idle, OLD)

    assert await JobScheduler(uow_factory=make_uow, env=env).run_draft_expiry() == 0

    assert await load(make_uow, "fresh") == draft()
    assert await load(make_uow, "idle") == idle
    assert await told(make_uow) == []


async def test_running_twice_tells_the_rider_once(make_uow: MakeUow, env: Env) -> None:
    await person(make_uow, "rider", "zh_CN")
    await save(make_uow, "rider", draft(), OLD)
    jobs = JobScheduler(uow_factory=make_uow, env=env)

    assert [await jobs.run_draft_expiry(), await jobs.run_draft_expiry()] == [1, 0]

    assert await told(make_uow) == [("chat-rider", ZH_REPORT)]


async def test_the_hours_follow_the_setting(make_uow: MakeUow, env: Env) -> None:
    env.draft_age = timedelta(hours=2)
    await person(make_uow, "rider", "en")
    await save(make_uow, "rider", draft(), NOW - timedelta(hours=3))
    await JobScheduler(uow_factory=make_uow, env=env).run_draft_expiry()
    [(_, text)] = await told(make_uow)
    assert text.startswith("Your unfinished report was discarded after 2 hours,")


async def test_the_photos_of_an_expired_draft_are_then_swept_as_orphans(
    make_uow: MakeUow, env: Env, store: PhotoStore
) -> None:
    key = store.put(b"a draft's photo", "jpg")
    week_ago = (NOW - timedelta(days=8)).timestamp()
    os.utime(store.path(key), (week_ago, week_ago))
    await person(make_uow, "rider", "en")
    await save(make_uow, "rider", draft(key), OLD)
    jobs = JobScheduler(uow_factory=make_uow, env=env, photo_store=store)
    assert await jobs.run_photo_retention() == 0, "the draft still holds it"

    await jobs.run_draft_expiry()

    assert await jobs.run_photo_retention() == 1
    assert key not in store


async def test_the_composition_root_wires_the_setting(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gridsnap.db'}",
        photo_dir=tmp_path / "photos",
        draft_hours=6,
    )
    app = await bootstrap(settings, sample_map=None)
    try:
        assert app.env.draft_age == timedelta(hours=6)
    finally:
        await app.close()


def test_the_draft_hours_must_be_positive() -> None:
    assert load_settings(draft_hours=6).draft_hours == 6
    with pytest.raises(ConfigError, match="GRIDSNAP_DRAFT_HOURS"):
        load_settings(draft_hours=0)


async def test_draft_expiry_is_scheduled_hourly(make_uow: MakeUow, env: Env) -> None:
    scheduler = JobScheduler(uow_factory=make_uow, env=env)
    scheduler.start()
    try:
        assert "draft_expiry" in scheduler.jobs()
    finally:
        scheduler.shutdown()
