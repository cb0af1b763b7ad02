"""A reopened case goes back to its holder only in a case-staff role: a holder who has left
the grid but is still the community's party secretary (not case staff) gets no case alert
and no case buttons. Before, any role but informant on the case's units counted."""

from __future__ import annotations

from bot.domain.model import ReportStatus, RoleName
from bot.services import staff
from bot.services.alerts import alert_reopened
from tests.unit.test_worker_handlers import Bot


async def _reopened_to(bot: Bot, *, still_worker: bool) -> list[str]:
    holder = await bot.person("Li", RoleName.GRID_WORKER)
    report = await bot.report()
    await bot.press(holder, f"w:acc:{report.id}:{report.version}")
    async with bot.uow as uow:
        holder_id = (await uow.accounts.find("telegram", "Li")).id  # type: ignore[union-attr]
        await uow.roles.grant(holder_id, RoleName.PARTY_SECRETARY, await bot.region_id("C1"))
        if not still_worker:
            await staff.remove_staff(
                uow, account_id=holder_id, role=RoleName.GRID_WORKER, region_code="G1"
            )
        await uow.commit()
    await bot.chat.drain()
    accepted = bot.stored(report)
    assert accepted.status is ReportStatus.ACCEPTED
    async with bot.uow as uow:
        await alert_reopened(uow, bot.env, accepted, reason=None)
        await uow.commit()
    return [m.chat_id for m in await bot.chat.drain()]


async def test_a_holder_who_is_only_party_secretary_there_gets_no_reopened_case() -> None:
    bot = Bot()
    await bot.seed()
    assert "Li" not in await _reopened_to(bot, still_worker=False)


async def test_a_holder_still_on_the_grid_gets_the_reopened_case() -> None:
    bot = Bot()
    await bot.seed()
    assert "Li" in await _reopened_to(bot, still_worker=True)
