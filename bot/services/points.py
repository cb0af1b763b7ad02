"""The one points ledger (积分): reports (accepted, resolved, …) and confirmed service hours.

Every grant is a ledger line with its reason and what earned it; the balance is the sum of
the lines. Lines remember the community where they were earned (the unit itself on a map
without communities), so leaderboards add up lines, not people's home addresses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.lifecycle import Action
from bot.domain.model import Level, RegionNode, Report
from bot.services.escalation import units_under
from bot.services.ports import BaseUnitOfWork
from bot.services.volunteer_ports import PointsEntry, RankLine

RANK_SIZE = 10


async def grant(
    uow: BaseUnitOfWork,
    *,
    account_id: int,
    points: int,
    reason: str,
    at: datetime,
    report_id: int | None = None,
    task_id: int | None = None,
    region_id: int | None = None,
    granted_by: int | None = None,
) -> int | None:
    """Write one ledger line; None (and no line) when there is nothing to grant."""
    if not points:
        return None
    return await uow.points.add(
        PointsEntry(
            account_id=account_id,
            points=points,
            reason=reason,
            at=at,
            report_id=report_id,
            task_id=task_id,
            region_id=region_id,
            granted_by=granted_by,
        )
    )


async def for_report(
    uow: BaseUnitOfWork, report: Report, action: Action, amount: int, *, at: datetime
) -> int | None:
    """The reporter's points for a lifecycle action on their report, counted where it is."""
    where = await community_of(uow, report.grid_id) if report.grid_id is not None else None
    return await grant(
        uow,
        account_id=report.reporter_id,
        points=amount,
        reason=action.value,
        at=at,
        report_id=report.id,
        region_id=where.id if where else None,
    )


async def community_of(uow: BaseUnitOfWork, region_id: int) -> RegionNode | None:
    """The community a unit lies in (itself, when it is one); a map without communities
    gives the unit itself."""
    chain = await uow.regions.ancestors(region_id)
    return next((n for n in chain if n.level is Level.COMMUNITY), chain[0] if chain else None)


async def home_community(uow: BaseUnitOfWork, account_id: int) -> RegionNode | None:
    """Whose leaderboard a person reads: their volunteer community, else their informant
    work area's, else where they hold a staff role."""
    volunteer = await uow.volunteers.get(account_id)
    if volunteer is not None:
        return await community_of(uow, volunteer.community_id)
    profile = await uow.informants.get(account_id)
    if profile is not None and profile.home_region_id is not None:
        return await community_of(uow, profile.home_region_id)
    for grant_ in await uow.roles.for_account(account_id):
        node = await community_of(uow, grant_.region_id)
        if node is not None and node.level is Level.COMMUNITY:
            return node
    return None


@dataclass(frozen=True, slots=True)
class Board:
    region: RegionNode
    lines: list[RankLine]


async def leaderboards(uow: BaseUnitOfWork, home: RegionNode) -> list[Board]:
    """The board of ``home`` (a community, or the unit itself on a map without communities)
    and of the street above it, else the district: each adds up every ledger line filed in
    its subtree, wherever in it the one rule of ``community_of`` filed them."""
    boards = [await _board(uow, home)]
    above = (await uow.regions.ancestors(home.id))[1:]
    wider = next((n for n in above if n.level is Level.STREET), None) or next(
        (n for n in above if n.level is Level.DISTRICT), None
    )
    if wider is not None:
        boards.append(await _board(uow, wider))
    return boards


async def _board(uow: BaseUnitOfWork, region: RegionNode) -> Board:
    ids = await units_under(uow, region.id)
    return Board(region, await uow.points.ranking(ids, limit=RANK_SIZE))
