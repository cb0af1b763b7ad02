"""The real ``gridsnap stats volunteers`` command, run as a subprocess against a SQLite
file: per community and per street, as stored."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.model import Level, MapUnit
from bot.domain.volunteer import ServiceType, SignupStatus, Slot, Volunteer, VolunteerStatus
from storage import migrate
from storage.database import create_engine, create_session_factory
from storage.uow import SqlUnitOfWork
from tests.chatkit import square
from tests.cli_kit import run_gridsnap

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
MAP = [
    MapUnit(code="S1", name="西港路街道", level=Level.STREET, parent_code=None,
            geometry=square(119.50, 0.10)),
    MapUnit(code="C1", name="东环社区", level=Level.COMMUNITY, parent_code="S1",
            geometry=square(119.50, 0.05)),
    MapUnit(code="C2", name="西环社区", level=Level.COMMUNITY, parent_code="S1",
            geometry=square(119.55, 0.05)),
    MapUnit(code="G1", name="东环一网格", level=Level.GRID, parent_code="C1",
            geometry=square(119.50, 0.05)),
]  # fmt: skip


async def _seed(url: str) -> None:
    """C1: two approved volunteers and one waiting; one task, 2 h confirmed for one of two
    sign-ups. C2: nothing."""
    await migrate.upgrade_async(url)
    engine = create_engine(url)
    try:
        async with SqlUnitOfWork(session_factory=create_session_factory(engine)) as uow:
            await uow.regions.replace_map(MAP, replace=True)
            c1 = await uow.regions.get("C1")
            assert c1 is not None
            people = [
                await uow.accounts.get_or_create(
                    platform="telegram",
                    platform_user_id=str(i),
                    chat_id=str(i),
                    display_name=f"v{i}",
                    locale="en",
                )
                for i in range(3)
            ]
            for person, status in zip(
                people,
                (VolunteerStatus.APPROVED, VolunteerStatus.APPROVED, VolunteerStatus.PENDING),
                strict=True,
            ):
                await uow.volunteers.upsert(
                    Volunteer(
                        account_id=person.id,
                        community_id=c1.id,
                        skills=frozenset(),
                        services=frozenset({ServiceType.VOLUNTEER}),
                        slots=frozenset({Slot.WEEKEND_MORNING}),
                        status=status,
                        created_at=T0,
                    )
                )
            task = await uow.tasks.add(
                community_id=c1.id,
                title="义诊",
                kind=ServiceType.VOLUNTEER,
                starts_at=T0,
                ends_at=T0 + timedelta(hours=2),
                slots=5,
                skills=frozenset(),
                place=None,
                created_by=people[0].id,
                created_at=T0,
            )
            done = await uow.tasks.sign_up(task.id, people[0].id, at=T0)
            await uow.tasks.sign_up(task.id, people[1].id, at=T0)
            await uow.tasks.save_signup(replace(done, status=SignupStatus.CONFIRMED, hours=2.0))
            await uow.commit()
    finally:
        await engine.dispose()


async def test_stats_volunteers_counts_per_community_and_street(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gridsnap.db'}"
    await _seed(url)
    result = run_gridsnap("stats", "volunteers", "--json", url=url, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    figures = {
        r["code"]: (r["volunteers"], r["pending"], r["tasks"], r["signups"], r["hours"])
        for r in rows
    }
    assert [r["code"] for r in rows] == ["S1", "C1", "C2"]
    assert figures == {"S1": (2, 1, 1, 2, 2.0), "C1": (2, 1, 1, 2, 2.0), "C2": (0, 0, 0, 0, 0)}
    table = run_gridsnap("stats", "volunteers", url=url, cwd=tmp_path)
    assert table.returncode == 0 and "东环社区" in table.stdout
