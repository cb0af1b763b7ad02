"""The real ``gridsnap staff`` command, run as a subprocess against a SQLite file."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bot.domain.model import Level, MapUnit, RoleGrant, RoleName
from bot.services import staff
from bot.services.ports import BaseUnitOfWork, InviteProblem, InviteRefused
from storage import migrate
from storage.database import create_engine, create_session_factory
from storage.uow import SqlUnitOfWork
from tests.cli_kit import run_gridsnap


def _square(x0: float, size: float) -> dict[str, object]:
    ring = [[x0, 39.90], [x0 + size, 39.90], [x0 + size, 39.90 + size], [x0, 39.90 + size]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _unit(code: str, name: str, level: Level, parent: str | None) -> MapUnit:
    return MapUnit(
        code=code, name=name, level=level, parent_code=parent, geometry=_square(119.5, 0.05)
    )


MAP = [
    _unit("S1", "西港路街道", Level.STREET, None),
    _unit("C1", "东环社区", Level.COMMUNITY, "S1"),
    _unit("G1", "东环一网格", Level.GRID, "C1"),
]


def gridsnap(url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_gridsnap("staff", *args, url=url, cwd=cwd, GRIDSNAP_BOT_USERNAME="qhd_grid_bot")


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
    """A migrated SQLite file holding the map (street S1 → community C1 → grid G1)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'gridsnap.db'}"
    await migrate.upgrade_async(url)
    async with unit(url) as uow:
        await uow.regions.replace_map(MAP, replace=True)
        await uow.commit()
    return url


def _payload(out: str) -> str:
    """The /start payload the invite printed, checked against its deep link."""
    lines = out.splitlines()
    [link] = [line for line in lines if line.startswith("https://t.me/")]
    [start] = [line for line in lines if line.startswith("/start ")]
    parsed = urlsplit(link)
    assert parsed.path == "/qhd_grid_bot"
    [payload] = parse_qs(parsed.query)["start"]
    assert start == f"/start {payload}"
    return payload


async def _redeem(url: str, payload: str, user: str) -> tuple[int, RoleGrant]:
    """Open the link as ``user`` would: through the service, in one committed unit."""
    token = payload.removeprefix(f"{staff.INVITE_PREFIX}_")
    async with unit(url) as uow:
        account = await uow.accounts.get_or_create(
            platform="telegram",
            platform_user_id=user,
            chat_id=user,
            display_name=f"Worker {user}",
            locale="zh_CN",
        )
        grant, _ = await staff.redeem_invite(
            uow, token=token, account=account, now=datetime.now(UTC)
        )
        await uow.commit()
    return account.id, grant


async def _grants(url: str) -> list[tuple[int, RoleName, str]]:
    async with unit(url) as uow:
        return [(g.account_id, g.role, g.region_code) for g in await uow.roles.list_all()]


async def test_an_invite_prints_a_deep_link_whose_payload_grants_the_role_once(
    url: str, tmp_path: Path
) -> None:
    done = gridsnap(url, tmp_path, "invite", "--region", "G1", "--role", "grid_worker")
    assert done.returncode == 0, done.stderr
    assert "grid_worker of 东环一网格 (G1)" in done.stdout
    payload = _payload(done.stdout)
    account_id, grant = await _redeem(url, payload, "501")
    assert (grant.account_id, grant.role, grant.region_code) == (
        account_id,
        RoleName.GRID_WORKER,
        "G1",
    )
    with pytest.raises(InviteRefused) as refused:
        await _redeem(url, payload, "502")
    assert refused.value.problem is InviteProblem.USED
    assert await _grants(url) == [(account_id, RoleName.GRID_WORKER, "G1")]


async def test_staff_list_shows_a_redeemed_grant_and_remove_takes_it_away(
    url: str, tmp_path: Path
) -> None:
    invited = gridsnap(url, tmp_path, "invite", "--region", "C1", "--role", "community_admin")
    account_id, _ = await _redeem(url, _payload(invited.stdout), "601")

    listed = gridsnap(url, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if "Worker 601" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells == [str(account_id), "Worker 601", "community_admin", "C1", "yes"]

    removed = gridsnap(
        url, tmp_path, "remove", str(account_id), "--role", "community_admin", "--region", "C1"
    )
    assert removed.returncode == 0, removed.stderr
    assert await _grants(url) == []
    assert "no staff yet" in gridsnap(url, tmp_path, "list").stdout


@pytest.mark.parametrize(
    "args",
    [
        ("invite", "--region", "NOPE", "--role", "grid_worker"),
        ("remove", "1", "--role", "grid_worker", "--region", "NOPE"),
    ],
    ids=["invite", "remove"],
)
async def test_an_unknown_region_code_is_a_one_line_error_and_a_failing_exit(
    url: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    done = gridsnap(url, tmp_path, *args)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["error: no region with code 'NOPE'"]
    assert await _grants(url) == []
