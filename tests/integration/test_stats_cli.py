"""The real ``gridsnap stats party`` (and a party secretary's invite), run as a subprocess
against a SQLite file: counts per community and street, never names."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.domain.model import Level, MapUnit
from bot.domain.party import DeclarationStatus, PartyDeclaration, Standing
from bot.services.ports import BaseUnitOfWork
from storage import migrate
from storage.database import create_engine, create_session_factory
from storage.uow import SqlUnitOfWork
from tests.chatkit import square
from tests.cli_kit import run_gridsnap

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
ORGANISATION = "中共某快递公司支部"


def _unit(code: str, name: str, level: Level, parent: str | None) -> MapUnit:
    return MapUnit(code=code, name=name, level=level, parent_code=parent, geometry=square(119.5))


MAP = [
    _unit("S1", "西港路街道", Level.STREET, None),
    _unit("C1", "东环社区", Level.COMMUNITY, "S1"),
    _unit("C2", "西环社区", Level.COMMUNITY, "S1"),
    _unit("G1", "东环一网格", Level.GRID, "C1"),
    _unit("S2", "北港街道", Level.STREET, None),
    _unit("C3", "北山社区", Level.COMMUNITY, "S2"),
]
# (community, verified) per declaring rider
DECLARED = [("C1", True), ("C1", False), ("C2", True), ("C3", False)]


@asynccontextmanager
async def unit(url: str) -> AsyncIterator[BaseUnitOfWork]:
    engine = create_engine(url)
    try:
        async with SqlUnitOfWork(session_factory=create_session_factory(engine)) as uow:
            yield uow
    finally:
        await engine.dispose()


@pytest.fixture
async def url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'gridsnap.db'}"
    await migrate.upgrade_async(url)
    async with unit(url) as uow:
        await uow.regions.replace_map(MAP, replace=True)
        for n, (code, verified) in enumerate(DECLARED):
            account = await uow.accounts.get_or_create(
                platform="telegram",
                platform_user_id=f"r{n}",
                chat_id=f"r{n}",
                display_name=f"王师傅{n}",
                locale="zh_CN",
            )
            community = await uow.regions.get(code)
            assert community is not None
            stored = await uow.party.submit(
                PartyDeclaration(
                    account_id=account.id,
                    standing=Standing.FORMAL,
                    organisation=ORGANISATION,
                    year_joined=2010,
                    community_id=community.id,
                    status=DeclarationStatus.PENDING,
                    consent_version="2026-12",
                    consented_at=NOW,
                    submitted_at=NOW,
                )
            )
            if verified:
                await uow.party.decide(
                    account.id, DeclarationStatus.VERIFIED, revision=stored.revision, by=1, at=NOW
                )
        await uow.commit()
    return url


def test_party_counts_come_per_community_and_street_without_names(url: str, tmp_path: Path) -> None:
    done = run_gridsnap("stats", "party", url=url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {
        tuple(cell.strip() for cell in line.split("│")[1:-1]) for line in done.stdout.splitlines()
    }
    assert ("西港路街道", "东环社区", "2", "1") in rows
    assert ("西港路街道", "西环社区", "1", "1") in rows
    assert ("西港路街道", "(street total)", "3", "2") in rows
    assert ("北港街道", "北山社区", "1", "0") in rows
    assert ("", "(total)", "4", "2") in rows
    assert "王师傅" not in done.stdout and ORGANISATION not in done.stdout


def test_party_counts_as_json_for_one_street(url: str, tmp_path: Path) -> None:
    done = run_gridsnap("stats", "party", "--region", "S2", "--json", url=url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "declared": 1,
        "verified": 0,
        "streets": [{"street": "北港街道", "declared": 1, "verified": 0}],
        "communities": [
            {"street": "北港街道", "community": "北山社区", "declared": 1, "verified": 0}
        ],
    }


def test_an_unknown_region_is_one_line_and_exit_1(url: str, tmp_path: Path) -> None:
    done = run_gridsnap("stats", "party", "--region", "nowhere", url=url, cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (1, "error: no region with code 'nowhere'")


def test_a_party_secretary_is_invited_on_a_community_not_a_grid(url: str, tmp_path: Path) -> None:
    def invite(region: str) -> tuple[int, str, str]:
        done = run_gridsnap(
            "staff", "invite", "--region", region, "--role", "party_secretary",
            url=url, cwd=tmp_path, GRIDSNAP_BOT_USERNAME="qhd_grid_bot",
        )  # fmt: skip
        return done.returncode, done.stdout, done.stderr

    code, out, _ = invite("C1")
    assert code == 0 and out.startswith("party_secretary of 东环社区 (C1)")
    code, _, err = invite("G1")
    assert code == 1 and "party_secretary is granted on a community" in err
