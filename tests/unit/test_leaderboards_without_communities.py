"""On a map without communities, points are filed under the unit a case went to (a grid,
or a district without grids) and the wider board — the street's, else the district's —
adds up every line filed anywhere in its subtree. Before, only a street's board existed
and it summed its direct children alone, so such points showed on no wider board.

A real ``Dispatcher`` with every flow over the in-memory store (``tests/chatkit.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.chat import OutKind
from bot.domain.categories import load_catalogue
from bot.domain.lifecycle import Action
from bot.domain.model import GeoPoint, Level, ReportStatus
from bot.services import points
from bot.services.env import Env, MapHolder
from tests.chatkit import ChatBot, approve_informant, unit
from tests.fakes import FakeStore, FakeUnitOfWork
from tests.flowkit import MemoryPhotoStore

NOW = datetime(2026, 11, 26, 1, 30, tzinfo=UTC)
# 海港区 has two grids and no communities or streets.
MAP = [
    unit("D1", Level.DISTRICT, None, 119.50, 0.06),
    unit("G1", Level.GRID, "D1", 119.50),
    unit("G2", Level.GRID, "D1", 119.53),
]


async def test_a_riders_rank_shows_the_districts_board_adding_up_both_grids() -> None:
    store = FakeStore()
    env = Env(
        catalogue=load_catalogue(),
        maps=MapHolder(tolerance_m=100),
        photos=MemoryPhotoStore(),
        clock=lambda: NOW,
    )
    bot = ChatBot(lambda: FakeUnitOfWork(store=store), env)
    await bot.seed_map(MAP)
    wang = await bot.person("Wang", region="G1")
    li = await bot.person("Li", region="G2")
    for user, code, amount in ((wang, "G1", 5), (li, "G2", 8)):
        account_id = await bot.account_id(user)
        async with bot.make_uow() as uow:
            grid = await uow.regions.get(code)
            assert grid is not None
            await approve_informant(uow, account_id, at=NOW, home_region_id=grid.id)
            report = await uow.reports.add(
                reporter_id=account_id,
                category_code="0301",
                location=GeoPoint(lat=39.915, lon=119.515),
                grid_id=grid.id,
                note="",
                status=ReportStatus.ACCEPTED,
                created_at=NOW,
            )
            await points.for_report(uow, report, Action.ACCEPT, amount, at=NOW)
            await uow.commit()

    said = "\n\n".join(
        m.text for m in await bot.command(wang, "rank") if m.kind is OutKind.TEXT and m.text
    )

    assert "Leaderboard of G1:\n1. Wang · 5" in said
    assert "Leaderboard of D1:\n1. Li · 8\n2. Wang · 5" in said
