"""The real ``gridsnap informants`` command, run as a subprocess against a SQLite file."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.chat import Outgoing
from bot.domain.model import InformantProfile, InformantStatus
from storage import migrate
from storage.database import create_engine, create_session_factory
from storage.uow import SqlUnitOfWork
from tests.cli_kit import run_gridsnap

APPLIED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def gridsnap(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_gridsnap("informants", *args, url=url, cwd=cwd)


async def _seed(url: str) -> int:
    """A rider (Chinese locale) with a pending application; returns the informant ID."""
    await migrate.upgrade_async(url)
    engine = create_engine(url)
    try:
        async with SqlUnitOfWork(session_factory=create_session_factory(engine)) as uow:
            rider = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id="501",
                chat_id="7501",
                display_name="xiaoming",
                locale="zh_CN",
            )
            await uow.informants.upsert(
                InformantProfile(
                    account_id=rider.id,
                    real_name="王小明",
                    phone="+8613800000000",
                    company="美团",
                    status=InformantStatus.PENDING,
                    home_region_id=None,
                    created_at=APPLIED,
                )
            )
            await uow.commit()
            return rider.id
    finally:
        await engine.dispose()


async def _state(url: str, informant_id: int) -> tuple[InformantProfile | None, list[Outgoing]]:
    engine = create_engine(url)
    try:
        async with SqlUnitOfWork(session_factory=create_session_factory(engine)) as uow:
            profile = await uow.informants.get(informant_id)
            rows = await uow.outbox.claim(100, datetime.now(UTC))
            return profile, [row.message for row in rows]
    finally:
        await engine.dispose()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'gridsnap.db'}"


@pytest.fixture
def seeded(url: str) -> int:
    return asyncio.run(_seed(url))


def test_listing_a_fresh_database_migrates_it_first(url, tmp_path):
    done = gridsnap(url, tmp_path, "list")
    assert done.returncode == 0, done.stderr
    assert "no informant applications" in done.stdout
    assert asyncio.run(migrate.current(url)) == migrate.head()


def test_list_pending_shows_the_application(url, tmp_path, seeded):
    done = gridsnap(url, tmp_path, "list", "--pending")
    assert done.returncode == 0, done.stderr
    assert "王小明" in done.stdout and "美团" in done.stdout and "pending" in done.stdout


def test_approve_records_the_decision_and_queues_the_riders_notification(url, tmp_path, seeded):
    done = gridsnap(url, tmp_path, "approve", str(seeded), "--by", "admin-li")
    assert done.returncode == 0, done.stderr
    assert f"approved informant {seeded}" in done.stdout
    profile, queued = asyncio.run(_state(url, seeded))
    assert profile is not None and profile.status is InformantStatus.APPROVED
    assert profile.decided_by is not None and profile.decided_at is not None
    [message] = queued
    assert message.chat_id == "7501"
    assert message.text.startswith("您的信息员注册已通过审核")  # the rider's language: zh_CN
    pending = gridsnap(url, tmp_path, "list", "--pending")
    assert "王小明" not in pending.stdout


def test_reject_with_a_reason_tells_the_rider_why(url, tmp_path, seeded):
    done = gridsnap(url, tmp_path, "reject", str(seeded), "--reason", "请使用本人手机号")
    assert done.returncode == 0, done.stderr
    profile, queued = asyncio.run(_state(url, seeded))
    assert profile is not None and profile.status is InformantStatus.REJECTED
    [message] = queued
    assert "请使用本人手机号" in message.text


def test_an_unknown_id_is_a_one_line_error(url, tmp_path, seeded):
    done = gridsnap(url, tmp_path, "approve", "4242")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: no informant application with ID 4242"
    profile, queued = asyncio.run(_state(url, seeded))
    assert profile is not None and profile.status is InformantStatus.PENDING
    assert queued == []
