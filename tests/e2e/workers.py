"""Grid workers for end-to-end scenes, shared by the e2e tests and ``bench/loop.py``.

A worker is bound the way a real one is: the staff service makes an invite for a grid and
the person opens the invite link in chat.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import Gridsnap
from bot.domain.model import Level, RegionNode, RoleName
from bot.services import staff
from bot.transports.emulator import Entry
from tests.e2e.conftest import WAIT, Person


async def bind_worker(
    app: Gridsnap, worker: Person, grid: str, *, role: RoleName = RoleName.GRID_WORKER
) -> Entry:
    """Make ``worker`` a ``role`` of ``grid`` through an invite; returns the welcome."""
    invite = await new_invite(app, grid, role=role)
    worker.say(f"/start {invite.payload}")
    # The welcome names the region; any other answer means the invite was refused.
    return await worker.expect(invite.region.name, timeout=WAIT)


async def new_invite(
    app: Gridsnap, grid: str, *, role: RoleName = RoleName.GRID_WORKER
) -> staff.CreatedInvite:
    """An invite to ``grid`` as ``role``, made by the staff service."""
    async with app.uow_factory() as uow:
        invite = await staff.create_invite(
            uow,
            region_code=grid,
            role=role,
            now=datetime.now(UTC),
            bot_username=app.settings.bot_username,
        )
        await uow.commit()
    return invite


async def community_of(app: Gridsnap, grid: str) -> RegionNode:
    """The community ``grid`` lies in (its community admin approves riders there)."""
    async with app.uow_factory() as uow:
        node = await uow.regions.get(grid)
        assert node is not None
        chain = await uow.regions.ancestors(node.id)
    [community] = [n for n in chain if n.level is Level.COMMUNITY]
    return community
