"""Nothing is stored before consent, on real SQLite and PostgreSQL with the real photo
store on disk: a stranger's photo leaves no file at all (photo nor thumbnail), while an
informant's and an invited staff member's photos are kept. The scenarios and the ``Bot``
are those of ``tests/unit/test_consent_photos_not_kept_before_consent.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.model import ReportStatus
from bot.services.ports import BaseUnitOfWork
from storage.database import create_engine, create_session_factory
from storage.photos import PhotoStore
from storage.uow import SqlUnitOfWork
from tests.unit.test_consent_photos_not_kept_before_consent import (
    REFUSED,
    RIDER,
    STRANGER,
    WHERE_IS_IT,
    Bot,
    staff_resolves_with_an_after_photo,
)


@pytest.fixture
async def bot(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[Bot]:
    engine = create_engine(migrated_database_url)
    factory = create_session_factory(engine)

    def make_uow() -> BaseUnitOfWork:
        return SqlUnitOfWork(session_factory=factory)

    try:
        yield Bot(make_uow, PhotoStore(tmp_path / "photos"))
    finally:
        await engine.dispose()


def stored_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "photos").rglob("*") if p.is_file()]


async def test_a_strangers_photo_leaves_no_file_and_they_are_told_to_register(
    bot: Bot, tmp_path: Path
) -> None:
    await bot.seed_map()

    said = await bot.photo(STRANGER)

    assert said == [REFUSED]
    assert bot.files.fetched == []
    assert stored_files(tmp_path) == []


async def test_an_approved_informants_photo_and_its_thumbnail_are_kept(
    bot: Bot, tmp_path: Path
) -> None:
    await bot.seed_map()
    await bot.approved_informant(RIDER)

    said = await bot.photo(RIDER)

    assert any(WHERE_IS_IT in t for t in said), said
    assert len(stored_files(tmp_path)) == 2  # the cleaned photo and its thumbnail


async def test_staff_invited_by_deep_link_without_consent_can_send_an_after_photo(
    bot: Bot,
) -> None:
    resolved = await staff_resolves_with_an_after_photo(bot)

    assert resolved.status is ReportStatus.RESOLVED
    [after] = resolved.photos
    assert after.kind == "after"
    assert bot.env.photos.get(after.sha256)[:2] == b"\xff\xd8"  # the stored JPEG
